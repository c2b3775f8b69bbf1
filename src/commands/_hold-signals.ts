/**
 * Imported first by the CLI, so that it runs before the other modules load: a stop signal ignored when the
 * process started is kept ignored (../signals.ts, toIgnoreAgain); `ivsh host` claims the stop
 * signals only once its command has loaded, some milliseconds in, and a Ctrl-C before that must stop it
 * too (./_exit.ts, `holdStopSignals`).
 */
import { ignoreSignal } from "../ffi/index.ts";
import { toIgnoreAgain } from "../signals.ts";
import { holdStopSignals } from "./_exit.ts";

// A signal the parent left ignored that Bun has set to be caught (a terminal on a standard descriptor)
// is ignored again first: a Ctrl-C until then ends it as Bun's start-up would anyway.
for (const signal of toIgnoreAgain()) ignoreSignal(signal);
if (process.argv[2] === "host") holdStopSignals();
