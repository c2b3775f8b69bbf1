/**
 * Bun collects garbage on a timer of its own besides JavaScriptCore's collections paced by allocation:
 * every second while the heap grows, which in an arbiter serving requests is always. Each such collection
 * stopped the arbiter 4 to 7 times for 0.5–3 ms (6 ms a second in all, `BUN_JSC_logGC=1` under
 * `ivsh bench --scale`), and every request that arrived meanwhile waited; without the timer 4 collections
 * ran in 8 s instead of 9, with less than half the pauses. Bun reads its switch only from the environment
 * when it starts, so the arbiter starts its own program again in its place (same pid) with it set.
 */
import { replaceProgram } from "../ffi/index.ts";
import { log } from "../log.ts";
import { isCompiled } from "../self.ts";

const SWITCH = "BUN_GC_TIMER_DISABLE";

/**
 * Restarts this process's program without Bun's GC timer, unless the environment already says either way
 * (the restarted program, or a user who chose). Returns only if it did not restart.
 */
export function restartWithoutGcTimer(): void {
  if (process.env[SWITCH] !== undefined) return;
  // Under `bun src/cli.ts` the script and bun's own flags come first; the compiled binary is its own script.
  const program = isCompiled() ? [] : [...process.execArgv, process.argv[1]!];
  const env = { ...process.env, [SWITCH]: "1" } as Record<string, string>;
  try {
    replaceProgram(process.execPath, [process.execPath, ...program, ...process.argv.slice(2)], env);
  } catch (error) {
    log.debug(`running with Bun's GC timer: could not start again without it (${error})`);
  }
}
