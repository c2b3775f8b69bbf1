/**
 * recv --out FILE whose copy's rename finds FILE taken (RENAME_NOREPLACE: EEXIST) and then nothing there
 * when the refusal looks (that file removed since): told as a file created there, the name's last owner
 * (src/transfer/keep-copy.ts kindAt), not as something other than a regular file. strace answers the
 * receiver's renameat2 of FILE.partial EEXIST with no file at FILE, the same order made certain.
 */
import { expect } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { stoppedAfter } from "./helpers/stopped-recv.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";
import { guest, randomFile, sameBytes } from "./helpers/transfer.ts";

const suite = sharedArbiter("keep-taken-gone");

testUnless(
  straceUnusable(),
  "recv --out FILE whose rename found FILE taken, gone by the refusal: told as a file created there, the copy kept as FILE.partial",
  async () => {
    const label = "taken-gone";
    const output = join(suite.dir, `${label}.out`);
    const injects = ["renameat2:error=EEXIST"];
    const recv = stoppedAfter("renameat2", label, output, { paths: suite.paths, injects });
    try {
      const input = join(suite.dir, `${label}.in`);
      const data = await randomFile(input, 20_000);
      const sender = guest(suite.paths, ["send", "-q", input, "--channel", label]);
      expect([await exitOrKill(recv.proc, EXIT_BOUND_MS), await sender.exit()]).toEqual([1, 1]);
      const said = await recv.stderr;
      // Before (kindAt taking no file for something else): "... it became something other than a regular file".
      expect(said).toContain(`${output} was not replaced: a file was created there during the transfer`);
      expect(existsSync(output)).toBe(false);
      expect(sameBytes(new Uint8Array(readFileSync(`${output}.partial`)), data)).toBe(true);
    } finally {
      recv.kill();
    }
  },
  60_000,
);
