/**
 * In a sticky directory (/tmp) only a file's owner, the directory's owner or root may rename it, so
 * recv --force over another user's file there is refused before anything is received (out-names.ts,
 * refuseUnreplaceable). The two a user may replace there are not refused: a file of its own, and any
 * file in a sticky directory of its own. Run as nobody: root passes every such check.
 */
import { afterAll, expect } from "bun:test";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NOBODY, notRoot, runAsNobody } from "./helpers/as-nobody.ts";
import { REPO } from "./helpers/paths.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-out-sticky-allowed-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Opens a --force sink on `target` as nobody: "opened", or the error's message. */
function openAsNobody(target: string): string {
  const script = join(dir, "open.ts");
  writeFileSync(
    script,
    `import { Sink } from ${JSON.stringify(join(REPO, "src/transfer/sink.ts"))};\n` +
      'try { Sink.open(process.argv[2], { force: true }).abandon(); console.log("opened"); }\n' +
      "catch (error) { console.log(error.message); }\n",
  );
  chmodSync(script, 0o644);
  return runAsNobody(script, [target]);
}

testUnless(
  notRoot ?? toolMissing("setpriv"),
  "recv --force as a user over its own file in a sticky directory of root's (as /tmp is): not refused",
  () => {
    chmodSync(dir, 0o755);
    const sticky = join(dir, "roots");
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    const own = join(sticky, "own");
    writeFileSync(own, "nobody's file");
    chownSync(own, NOBODY, NOBODY);
    expect(openAsNobody(own)).toBe("opened\n");
  },
);

testUnless(
  notRoot ?? toolMissing("setpriv"),
  "recv --force as a user over root's file in a sticky directory the user owns: not refused",
  () => {
    chmodSync(dir, 0o755);
    const sticky = join(dir, "nobodys");
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    chownSync(sticky, NOBODY, NOBODY);
    const theirs = join(sticky, "theirs");
    writeFileSync(theirs, "root's file");
    expect(openAsNobody(theirs)).toBe("opened\n");
  },
);
