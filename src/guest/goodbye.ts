/**
 * What close() says to the arbiter before it lets the connection go (Client.goodbye).
 */
import { withTimeout } from "./give-up.ts";
import type { Transport } from "./transport.ts";

/** How long close() waits for the arbiter to confirm bye (it releases everything either way). */
const BYE_WAIT_MS = 1000;

/**
 * Waits for the resume under way (the arbiter away, restarting) up to a lease, for the bye that
 * follows: closed without it, a session outlived its process by a lease after the arbiter's return,
 * holding its segments (an alloc of their names refused AlreadyExists) and its locks, and was logged as a
 * lost lease (new-user trial 36). A lease, as a channel end waits for its ring's release: an arbiter away
 * longer finds this process gone and expires the session itself.
 */
export async function resumeForGoodbye(resuming: Promise<void>, leaseMs: number): Promise<void> {
  await withTimeout(resuming, leaseMs).catch(() => {});
}

/** Says bye, if the link is up; `waitForArbiter` false: one-way if it can be (see Client.close). */
export async function sayGoodbye(transport: Transport, waitForArbiter: boolean): Promise<void> {
  if (!transport.connected || transport.lost) return;
  // notify() sends nothing while a re-handshake holds the link: then the goodbye waits its turn.
  const sentOneWay = !waitForArbiter && transport.notify("bye", {});
  if (!sentOneWay) await transport.requestWithin("bye", {}, BYE_WAIT_MS).catch(() => undefined);
}
