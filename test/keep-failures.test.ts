/**
 * What a receiver says when its verified copy could not take FILE's name (src/transfer/keep-failures.ts):
 * the error's code, which a --json caller branches on, and the reason in words for the errnos a rename
 * meets. Called with the error a failed rename throws; each case here is one that needs a race, or a file
 * system this machine may not have, to meet through a whole transfer.
 */
import { expect, test } from "bun:test";
import { isIvshError } from "../src/errors.ts";
import { keepFailure } from "../src/transfer/keep-failures.ts";

const where = { target: "/data/out", copy: "/data/out.partial" };
const failed = (code: string) => Object.assign(new Error(`rename /data/out.partial: ${code}`), { code });

test("a read-only file system (EROFS) is a refusal to this user, PermissionDenied, as EACCES and EPERM are", () => {
  for (const errno of ["EACCES", "EPERM", "EROFS"]) {
    const error = keepFailure(failed(errno), "renaming it to /data/out", where);
    expect(isIvshError(error, "PermissionDenied")).toBe(true);
    expect(error.message).toBe(
      `Failed to keep /data/out since renaming it to /data/out failed: this user may not change /data/ (${errno}). ` +
        "The received copy, whole and verified, is /data/out.partial: move it where you want it",
    );
  }
});

test("a directory put at FILE after the look (EISDIR, ENOTEMPTY, EEXIST) is named as one, not as a bare errno", () => {
  for (const errno of ["EISDIR", "ENOTEMPTY", "EEXIST"]) {
    const error = keepFailure(failed(errno), "renaming it to /data/out", where);
    expect(isIvshError(error, "SystemCall")).toBe(true);
    expect(error.message).toContain(`renaming it to /data/out failed: a directory is in the way (${errno}).`);
  }
});

test("something made at FILE during the transfer is AlreadyExists, a file told apart from anything else", () => {
  const file = keepFailure(undefined, "", { ...where, inTheWay: "/data/out", kind: "file" });
  const other = keepFailure(undefined, "", { ...where, inTheWay: "/data/out", kind: "other" });
  for (const error of [file, other]) expect(isIvshError(error, "AlreadyExists")).toBe(true);
  expect(file.message).toContain(
    "/data/out was not replaced: a file was created there during the transfer (pass --force to replace one)",
  );
  expect(other.message).toContain(
    "/data/out was not replaced: it became something other than a regular file during the transfer",
  );
});

// Met through a whole transfer under `ulimit -n 8`: the stream arrived and was verified, then the look at
// FILE could open nothing ("looking at FILE failed: EMFILE (open FILE: EMFILE (Too many open files))").
test("no descriptor left for the look at FILE (EMFILE) names the open-file limit to raise", () => {
  const error = keepFailure(failed("EMFILE"), "looking at /data/out", where);
  expect(isIvshError(error, "SystemCall")).toBe(true);
  expect(error.message).toContain(
    "looking at /data/out failed: this process has as many files open as its limit allows (EMFILE, ulimit -n ",
  );
  expect(error.message).toContain("raise the limit ivsh runs with (ulimit -n)");
});
