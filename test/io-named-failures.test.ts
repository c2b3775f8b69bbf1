/**
 * The open of a FILE the user named (send FILE, recv --out FILE's FILE.partial) failing for want of a
 * descriptor (EMFILE under a small ulimit -n, ENFILE when the system's table is full) was no usual
 * refusal to namedFailure: it reached the user raw, "open FILE.partial: EMFILE (Too many open files)".
 * A whole transfer meets it only at a limit that depends on Bun's own descriptors, so it is called here
 * with the error the open throws.
 */
import { expect, test } from "bun:test";
import { isIvshError } from "../src/errors.ts";
import { namedFailure } from "../src/transfer/io.ts";

const failed = (code: string) => Object.assign(new Error(`open /data/out.partial: ${code}`), { code });

test("EMFILE and ENFILE at the open of a named file say which limit ran out and what to raise", () => {
  const emfile = namedFailure(failed("EMFILE"), "/data/out.partial", "write /data/out", "--out");
  expect(isIvshError(emfile, "SystemCall")).toBe(true);
  expect(emfile?.message).toStartWith(
    "Failed to write /data/out since this process has as many files open as its limit allows (EMFILE, ulimit -n ",
  );
  expect(emfile?.message).toContain("raise the limit ivsh runs with (ulimit -n)");
  const enfile = namedFailure(failed("ENFILE"), "/data/out.partial", "write /data/out", "--out");
  expect(enfile?.message).toBe(
    "Failed to write /data/out since the system's table of open files is full (ENFILE): close files elsewhere, or raise fs.file-max",
  );
});
