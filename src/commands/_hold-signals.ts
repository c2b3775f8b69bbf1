/**
 * Imported first by the CLI, so that it runs before the other modules load: `ivsh host` claims the stop
 * signals only once its command has loaded, some milliseconds in, and a Ctrl-C before that must stop it
 * too (./_exit.ts, `holdStopSignals`). Before that, the arbiter restarts without Bun's GC timer
 * (src/host/gc-timer.ts): while no handler is installed yet, a signal does what it does to any process
 * starting, rather than being held by a program about to be replaced.
 */
import { restartWithoutGcTimer } from "../host/gc-timer.ts";
import { holdStopSignals } from "./_exit.ts";

// Imported, not loaded on demand: `await import()` here let the CLI's other modules run first under
// `bun src/cli.ts`, and the signals were held only 2.5-3.7 ms later. What it imports the CLI loads anyway.
if (process.argv[2] === "host") {
  restartWithoutGcTimer();
  holdStopSignals();
}
