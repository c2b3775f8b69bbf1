/**
 * Ctrl-C reaches a whole pipeline at once: the producer dies and closes the pipe, and our own SIGINT is
 * still on its way to its JavaScript listener (kernel → Bun's signal handler → event-loop queue →
 * listener). Taken at face value, the EOF the interruption caused would end the stream as if it were
 * complete. So before an EOF from a pipe becomes the end of a stream, every signal that has already
 * arrived is let through to its listener: the event loop gets turns until the kernel holds no pending
 * interrupting signal for this process and two turns have passed quietly.
 */
import { readFileSync } from "node:fs";

/**
 * SIGHUP, SIGINT, SIGTERM: bit (n - 1) of the kernel's pending masks. A pending SIGHUP nobody listens
 * for ends the process when it lands, which is as good an answer as its listener's.
 */
const INTERRUPTING = (1n << 0n) | (1n << 1n) | (1n << 14n);
const QUIET_TURNS = 2;
/** A signal blocked in every thread never lands: give up waiting for it after this. */
const MAX_SETTLE_MS = 200;

export async function letSignalsLand(signal: AbortSignal | undefined): Promise<void> {
  const deadline = performance.now() + MAX_SETTLE_MS;
  for (let quiet = 0; quiet < QUIET_TURNS && !signal?.aborted && performance.now() < deadline; ) {
    await new Promise<void>((resolve) => setImmediate(resolve));
    if (!interruptPending()) quiet++;
    else {
      quiet = 0;
      await Bun.sleep(1);
    }
  }
}

/** Whether an interrupting signal is queued for this process (or one of its threads) but not yet handled. */
function interruptPending(): boolean {
  let status: string;
  try {
    status = readFileSync("/proc/self/status", "utf8");
  } catch {
    return false; // no procfs: the event-loop turns alone have to do
  }
  for (const field of ["SigPnd", "ShdPnd"]) {
    const match = new RegExp(`^${field}:\\s*([0-9a-f]+)$`, "m").exec(status);
    if (match && (BigInt(`0x${match[1]}`) & INTERRUPTING) !== 0n) return true;
  }
  return false;
}
