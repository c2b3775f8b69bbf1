/**
 * Two clients of one arbiter, one holding a lock the other waits for, then the arbiter killed and, in its
 * place, something that accepts every connection and answers nothing: resume attempts open but unanswered,
 * as through a guest's bridge (QEMU accepts every attempt) or with an arbiter restarted but stopped
 * (test/resume-attempt-unanswered.test.ts).
 */
import { rmSync } from "node:fs";
import { type Client, connect, type Mutex } from "../../src/guest/index.ts";
import type { TestPaths } from "./paths.ts";
import { ArbiterProcess } from "./processes.ts";

export interface SilencedLock {
  arbiter: ArbiterProcess;
  holder: Client;
  /** Parked in the arbiter, not on a futex: the wait that meets no arbiter while it is away. */
  waiter: Client;
  /** The lock, held by the holder. */
  held: Mutex;
  /** The same lock, through the waiter. */
  waited: Mutex;
  /** Stops the silent listener and starts the arbiter again, at its socket. */
  restartArbiter(): Promise<void>;
  /** Closes both clients without waiting for an arbiter, stops the silent listener and the arbiter. */
  stop(): Promise<void>;
}

/** The holder holds `name`, the waiter has it open; the arbiter (lease `leaseMs`) is then silenced. */
export async function lockHeldWhileSilenced(
  paths: TestPaths,
  leaseMs: number,
  name: string,
): Promise<SilencedLock> {
  const arbiter = await ArbiterProcess.start(paths, { lease: `${leaseMs}ms` });
  const where = { socket: paths.socket, region: paths.region, reconnectTimeoutMs: 60_000 };
  const holder = await connect({ ...where, name: "holder" });
  const waiter = await connect({ ...where, name: "waiter", futexParking: false });
  let silent: ReturnType<typeof Bun.listen> | undefined;
  const stopSilent = () => {
    silent?.stop(true);
    silent = undefined;
    rmSync(paths.socket, { force: true });
  };
  const stop = async () => {
    stopSilent();
    await Promise.all([holder.close({ waitForArbiter: false }), waiter.close({ waitForArbiter: false })]);
    await arbiter.stop();
  };
  try {
    const held = await holder.mutex(name);
    await held.lock();
    const waited = await waiter.mutex(name);
    await arbiter.kill9();
    rmSync(paths.socket, { force: true });
    silent = Bun.listen({ unix: paths.socket, socket: { data() {} } });
    const restartArbiter = async () => {
      stopSilent();
      await arbiter.restart();
    };
    return { arbiter, holder, waiter, held, waited, restartArbiter, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}

/** What `promise` comes to, or "still waiting" if it has not within `boundMs`. */
export async function orStillWaiting<T>(promise: Promise<T>, boundMs: number): Promise<T | "still waiting"> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const bound = new Promise<"still waiting">((resolve) => {
    timer = setTimeout(() => resolve("still waiting"), boundMs);
  });
  return await Promise.race([promise, bound]).finally(() => clearTimeout(timer));
}
