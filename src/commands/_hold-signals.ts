/**
 * Imported first by the CLI, so that it runs before the other modules load: `ivsh host` claims the stop
 * signals only once its command has loaded, some milliseconds in, and a Ctrl-C before that must stop it
 * too (./_exit.ts, `holdStopSignals`). Before that, the arbiter restarts without Bun's GC timer
 * (src/host/gc-timer.ts): while no handler is installed yet, a signal does what it does to any process
 * starting, rather than being held by a program about to be replaced.
 */
import { holdStopSignals } from "./_exit.ts";

if (process.argv[2] === "host") {
  // Loaded only here: every other command starts without it.
  const { restartWithoutGcTimer } = await import("../host/gc-timer.ts");
  restartWithoutGcTimer();
  holdStopSignals();
}
