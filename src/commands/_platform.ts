/**
 * Imported first by the CLI, before any module that loads the system calls (src/ffi/libc.ts throws as it
 * loads off Linux x86-64, where nothing could catch it): there every command, `--version` too, fails with
 * the CLI's one-line error and exit 1, not an uncaught exception with Bun's listing of the throw.
 */
import { stderrIsJournal } from "../journal.ts";
import { unsupportedPlatform } from "../platform.ts";
import { EXIT_FAILED } from "./_exit.ts";

/**
 * Ends the process with `refusal` as the CLI's one error line, through Node's stderr: the log's own writes
 * go through libc, which here either did not load or cannot be called (./_ffi-ready.ts).
 */
export function refuseToStart(refusal: Error): never {
  // In the journal (a unit's), at err as the log's errors are: unmarked, journald took it for info.
  process.stderr.write(`${stderrIsJournal() ? "<3>" : "[ivsh] "}ERROR ${refusal.message}\n`);
  process.exit(EXIT_FAILED);
}

const unsupported = unsupportedPlatform();
if (unsupported) refuseToStart(unsupported);
