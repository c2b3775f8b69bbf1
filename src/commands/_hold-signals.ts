/**
 * Imported first by the CLI, so that it runs before the other modules load: `ivsh host` claims the stop
 * signals only once its command has loaded, some milliseconds in, and a Ctrl-C before that must stop it
 * too (./_exit.ts, `holdStopSignals`).
 */
import { holdStopSignals } from "./_exit.ts";

if (process.argv[2] === "host") holdStopSignals();
