/**
 * Bun collects garbage on a timer of its own besides JavaScriptCore's collections paced by allocation:
 * every second while the heap grows, which in an arbiter serving requests is always. Each such collection
 * stopped the arbiter 4 to 7 times for 0.5–3 ms (6 ms a second in all, `BUN_JSC_logGC=1` under
 * `ivsh bench --scale`), and every request that arrived meanwhile waited; without the timer 4 collections
 * ran in 8 s instead of 9, with less than half the pauses. Bun reads its switch only from the environment
 * when it starts, so the arbiter starts its own program again in its place (same pid) with it set.
 */
import { readFileSync } from "node:fs";
import { replaceProgram } from "../ffi/index.ts";
import { log } from "../log.ts";

const SWITCH = "BUN_GC_TIMER_DISABLE";

/**
 * Restarts this process's program without Bun's GC timer, unless the environment already says either way
 * (the restarted program, or a user who chose). Returns only if it did not restart.
 */
export function restartWithoutGcTimer(): void {
  if (process.env[SWITCH] !== undefined) return;
  const env = { ...process.env, [SWITCH]: "1" } as Record<string, string>;
  try {
    // The command line as the kernel got it, run by the file it ran: this process started again however it
    // was started. Rebuilt from execPath and argv, `ld.so ivsh host` (the way to run it from a noexec
    // mount) became `ld.so host`, which ended there (exit 127).
    const commandLine = readFileSync("/proc/self/cmdline", "utf8").split("\0").slice(0, -1);
    replaceProgram("/proc/self/exe", commandLine, env);
  } catch (error) {
    log.debug(`running with Bun's GC timer: could not start again without it (${error})`);
  }
}
