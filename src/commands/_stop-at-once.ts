/** The hard stop of `ivsh bench` and `ivsh demo`, after a second stop signal or an unwinding that hangs. */
import { cleanupNow, killAllChildren } from "../bench/child.ts";
import { log } from "../log.ts";
import { interruptedExitCode } from "./_exit.ts";

/**
 * Ends every child with SIGKILL, removes what the run made, says so and exits 128 + the first signal's
 * number: the first signal's SIGTERM leaves a child that has not ended on it (stopped, or one the signal
 * caught while it was starting) running on after its parent, and exiting now, the run's own error
 * (printed once it unwinds) never comes, so a second Ctrl-C ended it without a word.
 */
export function stopAtOnce(run: string, reason: unknown): never {
  killAllChildren("SIGKILL");
  cleanupNow();
  log.notice(`Failed to run ${run} since ${reason}: stopped at once, its files removed`);
  process.exit(interruptedExitCode());
}
