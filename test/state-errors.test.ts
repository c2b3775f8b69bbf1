/**
 * What a failed write or open of the --state journal tells its operator, per errno (src/host/state-errors.ts):
 * the cases test/host-state.test.ts and test/host-faults.test.ts do not reach through a real file system.
 */
import { expect, test } from "bun:test";
import { SystemCallError } from "../src/ffi/index.ts";
import { stateFileFailure } from "../src/host/state-errors.ts";

test("a path through a regular file (ENOTDIR) is StateInvalid, naming the directory, not a raw system call error", () => {
  const failed = stateFileFailure({ code: "ENOTDIR" }, "/srv/file/ivsh.state", "open the state file");
  expect(failed.code).toBe("StateInvalid");
  expect(failed.message).toBe(
    "Failed to open the state file since a part of /srv/file is not a directory (ENOTDIR); pass another --state",
  );
});

test("EPERM is told as EACCES is: PermissionDenied, naming the user and the directory", () => {
  const failed = stateFileFailure({ code: "EPERM" }, "/srv/ivsh/ivsh.state", "record a change");
  expect(failed.code).toBe("PermissionDenied");
  expect(failed.message).toContain(`this user (uid ${process.getuid!()}) may not write in /srv/ivsh (EPERM)`);
});

test("a failure of ivsh's own system call (SystemCallError, ENOSPC) is told by its errno, as node:fs's are", () => {
  const failed = stateFileFailure(
    new SystemCallError("write", "/srv/ivsh/ivsh.state", 28),
    "/srv/ivsh/ivsh.state",
    "x",
  );
  expect(failed.code).toBe("JournalFull");
  expect(failed.message).toContain("the state journal's file system is full (ENOSPC) at /srv/ivsh");
});
