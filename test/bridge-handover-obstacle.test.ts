/**
 * Whether `ivsh bridge` may hand its stdin over (src/host/bridge-handover.ts handoverObstacle), asked in a
 * process of its own whose stdin and stdout are one file opened for both: not a socket, so not the
 * guest's connection to hand over (the arbiter would adopt a file as a connection), though stdin and
 * stdout are one; a socket pair's end as both may be handed over.
 */
import { afterAll, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { join } from "node:path";
import { streamSocketPair } from "../src/ffi/fd-passing.ts";
import { closeFd } from "../src/ffi/index.ts";
import { REPO } from "./helpers/paths.ts";

const dir = mkdtempSync("/tmp/ivsh-bridge-handover-obstacle-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const SCRIPT =
  `import { handoverObstacle } from ${JSON.stringify(join(REPO, "src/host/bridge-handover.ts"))};\n` +
  "process.stderr.write(String(handoverObstacle()));\n";

/** handoverObstacle() in a child whose stdin and stdout are both `fd`. */
function obstacleWith(fd: number): string {
  const child = Bun.spawnSync([process.execPath, "-e", SCRIPT], { stdin: fd, stdout: fd, stderr: "pipe" });
  expect(child.exitCode).toBe(0);
  return child.stderr.toString();
}

test("one regular file as stdin and stdout is not handed over: it is not a socket", () => {
  const fd = openSync(join(dir, "both"), "w+");
  try {
    expect(obstacleWith(fd)).toBe("stdin is a file, not the guest's socket");
  } finally {
    closeSync(fd);
  }
});

test("one end of a socket pair as stdin and stdout may be handed over", () => {
  const [mine, theirs] = streamSocketPair();
  try {
    expect(obstacleWith(theirs)).toBe("undefined");
  } finally {
    closeFd(mine);
    closeFd(theirs);
  }
});
