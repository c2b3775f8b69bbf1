/**
 * A receiver's sink (src/transfer/sink.ts) around its verdict, on its own: a keep that fails leaves the
 * verified copy, even an empty one, and puts back the file it was to replace; an abandon removes no
 * FILE.partial that is not its own, and names one it can no longer look at; the file FILE replaces is set
 * aside under a name no file took, even one taken after the look, and its group passes to the copy where
 * its owner cannot; a rename that finds FILE.partial gone says so; `settle` lets go of the replaced file (--force), only that file, and names it if its
 * directory refuses changes by then, for `ivsh guest recv` to warn "... could not be removed: delete it
 * yourself".
 */
import { afterAll, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addressOf } from "../src/ffi/index.ts";
import { Sink } from "../src/transfer/sink.ts";
import { NOBODY, notRoot, runAsNobody } from "./helpers/as-nobody.ts";
import { REPO } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { straceUnusable, testUnless, toolMissing } from "./helpers/tools.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-sink-verdict-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A directory made to refuse changes: by its mode for anyone but root; for root, chattr +i where it works. */
function freezer(): { freeze(path: string): void; thaw(path: string): void } | undefined {
  if (process.getuid?.() !== 0)
    return { freeze: (path) => chmodSync(path, 0o555), thaw: (path) => chmodSync(path, 0o755) };
  if (!Bun.which("chattr")) return undefined;
  const chattr = (flag: string, path: string) => Bun.spawnSync(["chattr", flag, path]).exitCode === 0;
  const probe = mkdtempSync(join(dir, "probe-"));
  const works = chattr("+i", probe);
  chattr("-i", probe);
  if (!works) return undefined;
  return { freeze: (path) => chattr("+i", path), thaw: (path) => chattr("-i", path) };
}
const frozen = freezer();
const chattrWorks = process.getuid?.() === 0 && frozen !== undefined;

async function writing(target: string, text: string, force: boolean): Promise<Sink> {
  const sink = Sink.open(target, { force });
  const data = new TextEncoder().encode(text);
  if (data.byteLength > 0) await sink.write(addressOf(data), data.byteLength);
  return sink;
}

test("an empty stream, verified, that cannot take FILE's name (a file made there meanwhile): its copy is left, named", async () => {
  const target = join(dir, "empty");
  const sink = await writing(target, "", false);
  writeFileSync(target, "someone else's");
  expect(() => sink.keep()).toThrow("a file was created there during the transfer");
  // Before (a mutation counting only bytes written): the verified empty copy was removed as never written.
  expect(sink.abandon()).toBe(`${target}.partial`);
  expect(readFileSync(`${target}.partial`, "utf8")).toBe("");
  expect(readFileSync(target, "utf8")).toBe("someone else's");
});

test("an abandon removes no FILE.partial made since its own was unlinked: that one is another's", async () => {
  const target = join(dir, "taken");
  const sink = await writing(target, "", false);
  rmSync(`${target}.partial`);
  writeFileSync(`${target}.partial`, "another receiver's bytes");
  expect(sink.abandon()).toBeUndefined();
  expect(readFileSync(`${target}.partial`, "utf8")).toBe("another receiver's bytes");
});

testUnless(
  chattrWorks ? undefined : "only root with chattr +i makes FILE.partial refuse its rename",
  "--force, the verified copy refused its rename (immutable): the file it was to replace is back at FILE, no second name left",
  async () => {
    const target = join(dir, "refused");
    writeFileSync(target, "the old file");
    const sink = await writing(target, "the new copy", true);
    expect(Bun.spawnSync(["chattr", "+i", `${target}.partial`]).exitCode).toBe(0);
    try {
      let said = "";
      try {
        sink.keep();
      } catch (error) {
        said = (error as Error).message;
      }
      expect(said).toContain(`renaming it to ${target} failed`);
      // Before (a mutation skipping putBack): "; the file it was to replace is FILE.ivsh-replaced", left.
      expect(said).not.toContain("the file it was to replace");
      expect(existsSync(`${target}.ivsh-replaced`)).toBe(false);
      expect(readFileSync(target, "utf8")).toBe("the old file");
      expect(sink.abandon()).toBe(`${target}.partial`);
    } finally {
      Bun.spawnSync(["chattr", "-i", `${target}.partial`]);
    }
    expect(readFileSync(`${target}.partial`, "utf8")).toBe("the new copy");
  },
);

testUnless(
  frozen ? undefined : "root here has no chattr +i on the temporary directory's file system",
  "--force, verdict final, the directory read-only by then: the replaced file's second name is returned, and left",
  async () => {
    const out = join(dir, "frozen");
    mkdirSync(out);
    const target = join(out, "file");
    writeFileSync(target, "the old file");
    const sink = await writing(target, "the new copy", true);
    sink.keep();
    frozen?.freeze(out);
    try {
      // Before (a mutation of the catch): undefined, so the warning never named the file left behind.
      expect(sink.settle()).toBe(`${target}.ivsh-replaced`);
    } finally {
      frozen?.thaw(out);
    }
    expect(readFileSync(target, "utf8")).toBe("the new copy");
    expect(readFileSync(`${target}.ivsh-replaced`, "utf8")).toBe("the old file");
    expect(existsSync(`${target}.partial`)).toBe(false);
  },
);

// The file set aside removed (or moved) after the keep, and another put under FILE.ivsh-replaced before the
// verdict: settle removed that name, whatever file it held. Removed, not moved: ext4 gives the new file
// the old one's inode number at once unless the keep still holds the old one (O_PATH) until the verdict.
test("--force: settle leaves a file put at FILE.ivsh-replaced after the keep (not the file set aside)", async () => {
  const target = join(dir, "resaved-aside");
  writeFileSync(target, "the old file");
  const sink = await writing(target, "the new copy", true);
  sink.keep();
  rmSync(`${target}.ivsh-replaced`);
  writeFileSync(`${target}.ivsh-replaced`, "someone's, made after the keep");
  // Before: undefined too, and that file removed.
  expect(sink.settle()).toBeUndefined();
  expect(readFileSync(`${target}.ivsh-replaced`, "utf8")).toBe("someone's, made after the keep");
  expect(readFileSync(target, "utf8")).toBe("the new copy");
});

// The rename to FILE failing ENOENT (FILE.partial removed after the look that found it still the copy) is
// the copy vanishing, not a failed step with the copy "whole and verified" at a name that has none. A
// race through a transfer: here the rename is failed by strace.
testUnless(
  straceUnusable(),
  "--force, the rename to FILE failing ENOENT: FILE.partial said removed, nothing kept, the old FILE left as it was",
  async () => {
    const target = join(dir, "vanished");
    writeFileSync(target, "the old file");
    const sink = JSON.stringify(join(REPO, "src/transfer/sink.ts"));
    const script = [
      `import { Sink } from ${sink};`,
      `import { addressOf } from ${JSON.stringify(join(REPO, "src/ffi/index.ts"))};`,
      `const sink = Sink.open(${JSON.stringify(target)}, { force: true });`,
      'const data = new TextEncoder().encode("the new copy");',
      "await sink.write(addressOf(data), data.byteLength);",
      "try { sink.keep(); console.log('kept'); } catch (error) { console.log(error.message); }",
    ].join("\n");
    // renameat2 too: where the kernel has it, the keep renames with RENAME_EXCHANGE / RENAME_NOREPLACE.
    const failed = [
      ...["-f", "-qq", "-o", "/dev/null", "-e", "trace=rename,renameat2"],
      ...["-e", "inject=rename,renameat2:error=ENOENT"],
    ];
    const child = Bun.spawn(["strace", ...failed, process.execPath, "-e", script], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const said = new Response(child.stdout).text();
    expect(await exitOrKill(child, EXIT_BOUND_MS)).toBe(0);
    // Before (a mutation dropping the ENOENT case): "renaming it to FILE failed: ENOENT (...). The received
    // copy, whole and verified, is FILE.partial".
    expect(await said).toContain(
      `Failed to keep ${target} since ${target}.partial was removed or replaced during the transfer; nothing kept (receive again)`,
    );
    expect(readFileSync(target, "utf8")).toBe("the old file");
    expect(existsSync(`${target}.ivsh-replaced`)).toBe(false);
  },
);

// A receiver's output directory made unsearchable (chmod a-x) during a transfer that then failed: abandon's
// look at FILE.partial threw a raw "EACCES: permission denied, lstat ...", which, thrown from the CLI's
// cleanup, replaced the transfer's own error. Now the partial is left and named, as one whose directory
// refuses its removal is. Only for a user other than root, whom modes do not stop: run as nobody.
testUnless(
  notRoot ?? toolMissing("setpriv"),
  "a FILE.partial whose directory became unsearchable is named as left by abandon, not a raw EACCES thrown",
  () => {
    const out = join(dir, "unsearchable");
    mkdirSync(out);
    chmodSync(dir, 0o755);
    chownSync(out, NOBODY, NOBODY);
    const script = join(dir, "abandon.ts");
    writeFileSync(
      script,
      [
        'import { chmodSync } from "node:fs";',
        `import { Sink } from ${JSON.stringify(join(REPO, "src/transfer/sink.ts"))};`,
        `import { addressOf } from ${JSON.stringify(join(REPO, "src/ffi/index.ts"))};`,
        "const [out, target] = process.argv.slice(2);",
        "const sink = Sink.open(target);",
        'const data = new TextEncoder().encode("some bytes");',
        "await sink.write(addressOf(data), data.byteLength);",
        "chmodSync(out, 0o600);",
        'try { console.log("left: " + sink.abandon()); } catch (error) { console.log("threw: " + error.message); }',
        "chmodSync(out, 0o755);",
      ].join("\n"),
    );
    chmodSync(script, 0o644);
    const target = join(out, "file");
    // Before: "threw: EACCES: permission denied, lstat '.../file.partial'".
    expect(runAsNobody(script, [out, target])).toBe(`left: ${target}.partial\n`);
    expect(readFileSync(`${target}.partial`, "utf8")).toBe("some bytes");
  },
);

// FILE.ivsh-replaced made between setAside's look and its link (EEXIST) is someone's: the next name is
// used. A race through a transfer: here strace fails the first link with EEXIST.
testUnless(
  straceUnusable(),
  "--force, FILE.ivsh-replaced taken just before the link: the replaced file is set aside as FILE.ivsh-replaced.1",
  async () => {
    const target = join(dir, "taken-aside");
    writeFileSync(target, "the old file");
    const script = [
      `import { existsSync } from "node:fs";`,
      `import { Sink } from ${JSON.stringify(join(REPO, "src/transfer/sink.ts"))};`,
      `import { addressOf } from ${JSON.stringify(join(REPO, "src/ffi/index.ts"))};`,
      `const target = ${JSON.stringify(target)};`,
      "const sink = Sink.open(target, { force: true });",
      'const data = new TextEncoder().encode("the new copy");',
      "await sink.write(addressOf(data), data.byteLength);",
      "sink.keep();",
      'console.log([".ivsh-replaced", ".ivsh-replaced.1"].filter((end) => existsSync(target + end)).join(" "));',
      "sink.unkeep();",
    ].join("\n");
    const taken = [
      "-f",
      "-qq",
      "-o",
      "/dev/null",
      "-e",
      "trace=link",
      "-e",
      "inject=link:error=EEXIST:when=1",
    ];
    const child = Bun.spawn(["strace", ...taken, process.execPath, "-e", script], { stdout: "pipe" });
    const said = new Response(child.stdout).text();
    expect(await exitOrKill(child, EXIT_BOUND_MS)).toBe(0);
    // Before (a mutation renaming over the name taken): ".ivsh-replaced", whatever had that name replaced.
    expect((await said).trim()).toBe(".ivsh-replaced.1");
    expect(readFileSync(target, "utf8")).toBe("the old file");
  },
);

// A user who may not give the copy the replaced file's owner may still give it its group, one it is in:
// the group that could read the file (0640) still can. Run as nobody, in group 6 besides its own.
testUnless(
  notRoot ?? toolMissing("setpriv"),
  "--force over another user's file of a group this user is in: the copy takes that group, though not the owner",
  () => {
    const out = join(dir, "grouped");
    mkdirSync(out);
    chmodSync(dir, 0o755);
    chownSync(out, NOBODY, NOBODY);
    const target = join(out, "file");
    writeFileSync(target, "the old file");
    chownSync(target, 0, 6);
    chmodSync(target, 0o640);
    const script = join(dir, "grouped.ts");
    writeFileSync(
      script,
      [
        `import { Sink } from ${JSON.stringify(join(REPO, "src/transfer/sink.ts"))};`,
        `import { addressOf } from ${JSON.stringify(join(REPO, "src/ffi/index.ts"))};`,
        `const sink = Sink.open(${JSON.stringify(target)}, { force: true });`,
        'const data = new TextEncoder().encode("the new copy");',
        "await sink.write(addressOf(data), data.byteLength);",
        "sink.keep();",
        "sink.settle();",
      ].join("\n"),
    );
    chmodSync(script, 0o644);
    const asNobody = [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, `--groups=${NOBODY},6`];
    const child = Bun.spawnSync(["setpriv", ...asNobody, process.execPath, script], {
      env: { ...process.env, HOME: "/tmp" },
    });
    expect(child.stderr.toString()).toBe("");
    expect(readFileSync(target, "utf8")).toBe("the new copy");
    const copy = statSync(target);
    // Before (a mutation trying only owner and group together): nobody's group, the file's group locked out.
    expect([copy.uid, copy.gid, (copy.mode & 0o777).toString(8)]).toEqual([NOBODY, 6, "640"]);
  },
);

/** This process's descriptors open on a file under `under` (the keep's O_PATH ones included). */
function openUnder(under: string): string[] {
  const held: string[] = [];
  for (const fd of readdirSync("/proc/self/fd")) {
    try {
      const path = readlinkSync(`/proc/self/fd/${fd}`);
      if (path.startsWith(under)) held.push(path);
    } catch {
      // closed while listed (the listing's own descriptor)
    }
  }
  return held;
}

// The keep holds the file it found at FILE (O_PATH) from its look to the set-aside, and, once set aside, until
// the verdict: closed whichever way the keep and verdict end.
test("--force: no descriptor of FILE's directory stays open after a settle, an unkeep, or a keep refused", async () => {
  const out = mkdtempSync(join(dir, "held-"));
  const ends: Record<string, (sink: Sink, target: string) => void> = {
    settled: (sink, target) => {
      sink.keep();
      // Until the verdict: the copy, and the old file by its second name. Not by the name FILE had, which
      // the copy's move replaced ('FILE.partial (deleted)' after the swap): NFS keeps a replaced name that
      // is open as a .nfsXXXX file in the directory until it is closed.
      expect(openUnder(out).sort()).toEqual([target, `${target}.ivsh-replaced`]);
      sink.settle();
    },
    unkept: (sink) => {
      sink.keep();
      sink.unkeep();
      sink.abandon();
    },
    refused: (sink, target) => {
      rmSync(target);
      mkdirSync(target); // no file to replace: refused at the look
      expect(() => sink.keep()).toThrow("was not replaced");
      sink.abandon();
    },
  };
  for (const [name, end] of Object.entries(ends)) {
    const target = join(out, name);
    writeFileSync(target, "the old file");
    end(await writing(target, "the new copy", true), target);
    expect({ name, held: openUnder(out) }).toEqual({ name, held: [] });
  }
});
