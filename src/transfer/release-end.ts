/**
 * How a transfer's end gives back its ring and role when the transfer is over (run.ts): cheaply once the
 * transfer is decided, and without waiting out a reconnect for an arbiter that went away.
 */
import { IvshError, isIvshError, reasonOf } from "../errors.ts";
import type { Segment } from "../guest/segment.ts";
import type { ChannelClient } from "./channel-client.ts";
import { closeOrKeep, freeOrKeep, holdKept, segmentKept } from "./refused-frees.ts";
import { type ChannelSlot, whileFailing } from "./slot.ts";

/** Closes the end; its requests no longer keep the process alive once `letGo` aborts (Client.status). */
type Close = (letGo: AbortSignal) => Promise<void>;

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
  close: Close,
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
  close: Close,
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
  release: Close,
  client: ChannelClient,
  signal: AbortSignal | undefined,
): Promise<void> {
  const givenUp = new AbortController();
  const released = release(givenUp.signal).then(() => true);
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
  // Nobody awaits them now: unanswered (a stopped arbiter), they kept a library script that caught the
  // end's error, and forgot close(), alive. Still sent, and answered, they take effect as before.
  givenUp.abort();
}

/** What a transfer end's close left held, each with why: the arbiter's refusal, or another failure. */
type LeftHeld = { ring?: Error; hold?: Error };

/** What each failed `releaseRingAndRole` left held, for `leftHeldSaid` (its message says it to close()'s caller). */
const leftHeldBy = new WeakMap<Error, LeftHeld>();

/** `release`'s full-journal refusal (kept to retry: refused-frees.ts), or its other failure. */
const refusedOrFailed = (release: Promise<Error | undefined>) =>
  release.then(
    (refused) => ({ refused, failed: undefined }),
    (failed: Error) => ({ refused: undefined, failed }),
  );

/**
 * Frees a transfer's ring and gives up `role`, both requests in flight at once: the arbiter answers them in
 * order on one connection, so every transfer's end waits one round trip for them instead of two. What the
 * arbiter's full journal refused is thrown (JournalFull, as close() tells it), and kept for the client's
 * next send or receive to give back (refused-frees.ts): it was left held until the client closed. Another
 * failure of either is thrown as it is, with what the other's refusal kept: thrown alone, it hid that.
 * `letGo`: see Client.status (`releaseEnd`'s, once it stops waiting for them).
 */
export async function releaseRingAndRole(
  slot: ChannelSlot,
  role: "sender" | "receiver",
  ring: Segment,
  letGo?: AbortSignal,
): Promise<void> {
  slot.release(role);
  const { client } = slot;
  // Both awaited: a free failing at once had close() throw while the slot's close was still in flight.
  const [freed, closed] = await Promise.all([
    refusedOrFailed(freeOrKeep(client, ring, letGo)),
    refusedOrFailed(closeOrKeep(client, slot.slot, letGo)),
  ]);
  const failed = freed.failed ?? closed.failed;
  const refusal = freed.refused ?? closed.refused;
  const kept = [freed.refused && segmentKept(ring), closed.refused && holdKept(slot.channel)];
  const said = kept.filter(Boolean).join("; ");
  let thrown: Error;
  if (failed)
    thrown =
      said && isIvshError(failed)
        ? new IvshError(failed.code, `${failed.message}; ${said}`, { cause: failed })
        : failed;
  else if (refusal)
    thrown = new IvshError(
      "JournalFull",
      `Failed to close the ${role} of channel '${slot.channel}' since the arbiter could not record it: ${reasonOf(refusal)}; ${said}`,
      { cause: refusal },
    );
  else return;
  leftHeldBy.set(thrown, { ring: freed.refused ?? freed.failed, hold: closed.refused ?? closed.failed });
  throw thrown;
}

/**
 * What a failed close() of a transfer's `role` end left held on `channel`, for a warning: each part (its
 * ring, its hold on the channel) with the arbiter's own refusal or the other failure (the retry close() adds
 * is moot for a client about to close). "Ring and hold" was said when one of them was given back.
 */
export function leftHeldSaid(error: unknown, role: "sender" | "receiver", channel: string): string {
  const { ring, hold } = leftHeldBy.get(error as Error) ?? { ring: error, hold: error };
  const why = (part: unknown) => (part instanceof Error ? part.message : String(part));
  const until = "when this client's session ends (its close, or its lease running out)";
  const alike = why(ring) === why(hold) || [ring, hold].every((part) => isIvshError(part, "JournalFull"));
  if (ring && hold && alike)
    return `this ${role}'s ring and hold on channel '${channel}' were not given back (${why(ring)}): the arbiter frees them ${until}`;
  if (ring && hold)
    return (
      `this ${role}'s ring on channel '${channel}' was not given back (${why(ring)}), nor its hold on the ` +
      `channel (${why(hold)}): the arbiter frees them ${until}`
    );
  const [part, left] = ring ? ["ring", ring] : ["hold", hold];
  return `this ${role}'s ${part} on channel '${channel}' was not given back (${why(left)}): the arbiter frees it ${until}`;
}
