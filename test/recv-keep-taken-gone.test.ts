/**
 * Two keeps that fail (src/transfer/keep-copy.ts), strace failing the call. The copy's rename finds FILE
 * taken (RENAME_NOREPLACE: EEXIST) and then nothing there when the refusal looks (that file removed since):
 * told as a file created there, the name's last owner (kindAt), not as something other than a regular
 * file. And --force whose copy cannot take the old file's mode (fchmod EIO): refused before the old file
 * is set aside, so no FILE.ivsh-replaced is left beside it.
 */
import { expect } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { randomSender, stoppedAfter } from "./helpers/stopped-recv.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";
import { sameBytes } from "./helpers/transfer.ts";

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
      const { data, sender } = await randomSender(suite, label, 20_000);
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

testUnless(
  straceUnusable(),
  "recv --out FILE --force whose copy cannot take the old file's mode (EIO): refused, the old file at FILE, no second name left",
  async () => {
    const label = "mode-failed";
    const output = join(suite.dir, `${label}.out`);
    writeFileSync(output, "the old file\n");
    const options = { paths: suite.paths, on: [], injects: ["fchmod:error=EIO"], extra: ["--force"] };
    const recv = stoppedAfter("fchmod", label, output, options);
    try {
      const { sender } = await randomSender(suite, label, 20_000);
      expect([await exitOrKill(recv.proc, EXIT_BOUND_MS), await sender.exit()]).toEqual([1, 1]);
      expect(readFileSync(`${output}.strace`, "utf8")).toContain("EIO (Input/output error) (INJECTED)");
      // Before (the mode taken after the set-aside): FILE.ivsh-replaced, a second name of the old file, stayed.
      expect([readFileSync(output, "utf8"), existsSync(`${output}.ivsh-replaced`)]).toEqual([
        "the old file\n",
        false,
      ]);
    } finally {
      recv.kill();
    }
  },
  60_000,
);
