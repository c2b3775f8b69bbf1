/**
 * The descriptors a sink may write straight to, as ./sink.ts opens them: stdout (`--out -`) and one a
 * name opens (/dev/stdout, /dev/fd/N), each refused where the stream could not reach a reader.
 */
import { failure } from "../errors.ts";
import { closedAtStart, type FileType, fileStatus, isTerminal, SystemCallError } from "../ffi/index.ts";

/** stdout's type, unless it is a terminal or was closed at start. */
export function stdoutType(): FileType {
  if (isTerminal(1))
    throw failure(
      "InvalidArgument",
      "write the stream to stdout",
      "it is a terminal (pass --out FILE, or redirect)",
    );
  // Written to /dev/null, the stream would be verified and dropped.
  if (closedAtStart(1))
    throw failure(
      "InvalidArgument",
      "write the stream to stdout",
      "stdout was closed when ivsh started (>&-): redirect it, or pass --out FILE",
    );
  return fileStatus(1, "stdout").type;
}

/** The type of descriptor `fd`, which --out `target` names, unless it is not open, a terminal, or closed at start. */
export function descriptorType(fd: number, target: string): FileType {
  const action = `write ${target}`;
  let type: FileType;
  try {
    type = fileStatus(fd, target).type;
  } catch (error) {
    if (!(error instanceof SystemCallError && error.errnoName === "EBADF")) throw error;
    throw failure("InvalidArgument", action, `it names descriptor ${fd}, which is not open (--out)`);
  }
  if (isTerminal(fd))
    throw failure("InvalidArgument", action, "it is a terminal (pass --out FILE, or redirect)");
  // As for `-`: the runtime's /dev/null in a closed slot would have the stream verified and dropped.
  if (fd <= 2 && closedAtStart(fd as 0 | 1 | 2))
    throw failure(
      "InvalidArgument",
      action,
      `it names descriptor ${fd}, which was closed when ivsh started: redirect it, or pass --out FILE`,
    );
  return type;
}
