/**
 * Imported by the CLI right after ./_platform.ts, before any module calls libc as it loads: with Bun's
 * JIT off (an address-space limit, ulimit -v, too small for it; src/ffi/jit.ts), no call can be made,
 * the log's own writes included, and a command that tried exited 1 saying nothing. Said here in the CLI's
 * one error line, through Node's stderr, which needs no libc call of ours.
 */
import { libcRefusal } from "../ffi/index.ts";
import { stderrIsJournal } from "../journal.ts";
import { EXIT_FAILED } from "./_exit.ts";

if (libcRefusal) {
  // In the journal (a unit's), at err as the log's errors are: unmarked, journald took it for info.
  process.stderr.write(`${stderrIsJournal() ? "<3>" : "[ivsh] "}ERROR ${libcRefusal.message}\n`);
  process.exit(EXIT_FAILED);
}
