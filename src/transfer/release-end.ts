/**
 * How a transfer's end gives back its ring and role when the transfer is over (run.ts): cheaply once the
 * transfer is decided, and without waiting out a reconnect for an arbiter that went away.
 */
import type { ChannelClient } from "./channel-client.ts";
import { type ChannelSlot, leftHeldSaid, whileFailing } from "./slot.ts";

/**
 * A channel end's release. Once the transfer is decided (the receiver kept the stream and told the sender)
 * and the arbiter is there, only the role's word is given back here: the command says goodbye right after
 * (client.close), and the arbiter's goodbye gives back the ring's grant and the slot's handle as surely as
 * their own requests would, a round trip sooner (test/oplog.test.ts: both ends say goodbye, nothing stays
 * held). Undecided (a failure, an interrupt), or with the arbiter away (its return within a lease must find
 * the ring freed), the end is closed and its release awaited as before.
 */
async function release(
  decided: ChannelSlot | undefined,
  role: "sender" | "receiver",
  close: () => Promise<void>,
  client: ChannelClient,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (decided && client.arbiterLink.greeted) decided.release(role);
  else await releaseUnlessAway(close, client, signal);
}

/**
 * `release`, and what it left held if the arbiter refused it. Undecided, the transfer threw: that failure
 * is what the user is told, not its release's refusal (whileFailing). Decided, the transfer stands: an
 * arbiter back after it with its journal full refused the ring's free and the slot's close, and that
 * refusal was thrown in place of a verified transfer. Said instead, with where the two go: the role's
 * word was given back before the requests, so the next transfer on the channel is not held up.
 */
export async function releaseEnd(
  decided: ChannelSlot | undefined,
  role: "sender" | "receiver",
  close: () => Promise<void>,
  client: ChannelClient,
  signal: AbortSignal | undefined,
): Promise<string | undefined> {
  const releasing = release(decided, role, close, client, signal);
  if (!decided) return void (await whileFailing(releasing));
  return await releasing.then(
    () => undefined,
    (error: unknown) => leftHeldSaid(error, role, decided.channel),
  );
}

/** How often a channel's release looks whether the arbiter went away or came back meanwhile. */
const AWAY_CHECK_MS = 50;
/**
 * How long a release unanswered since the end's signal ended it (Ctrl-C, --timeout) is waited for: an
 * arbiter stopped less than half a lease ago is not yet told away (leaseInDoubt), and a sender whose
 * --timeout 4s passed waited out that half lease (30 s with a 60 s lease) for its ring's free. One merely
 * busy answers within it; past it, the goodbye that follows on the same connection gives back as surely.
 */
const ANSWER_AFTER_ABORT_MS = 1000;

/**
 * A channel end's release (its ring and role), given up once the arbiter has been away (gone, or connected
 * but silent: stopped, frozen) for a lease, or when the user interrupts, or --timeout ended the wait for
 * the peer, while it is away or for ANSWER_AFTER_ABORT_MS unanswered: its requests would otherwise wait out the reconnect timeout
 * after the transfer was decided (30 s of silence after a verified copy, in a fault trial). An arbiter
 * restarted within the lease gets them, so the next transfer finds the ring freed; one away longer finds
 * this process gone, expires its restored session after a lease, and releases the same ring and role then;
 * so does a stopped one resumed, finding the connection closed.
 */
async function releaseUnlessAway(
  release: () => Promise<void>,
  client: ChannelClient,
  signal: AbortSignal | undefined,
): Promise<void> {
  const released = release().then(() => true);
  let awaySince: number | undefined;
  let abortedSince: number | undefined;
  for (;;) {
    const here = client.arbiterLink.greeted && !client.leaseInDoubt();
    const now = performance.now();
    awaySince = here ? undefined : (awaySince ?? now);
    const waited = awaySince === undefined ? 0 : now - awaySince;
    if (awaySince !== undefined && (waited > client.leaseMs || signal?.aborted)) break;
    if (signal?.aborted) abortedSince ??= now;
    if (abortedSince !== undefined && now - abortedSince > ANSWER_AFTER_ABORT_MS) break;
    const tick = Promise.withResolvers<boolean>();
    const timer = setTimeout(() => tick.resolve(false), AWAY_CHECK_MS);
    try {
      if (await Promise.race([released, tick.promise])) return;
    } finally {
      clearTimeout(timer);
    }
  }
  released.catch(() => {}); // decided without us now: see above
}
