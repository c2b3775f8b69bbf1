/**
 * What a channel end took but will not use (a ring found overwritten, a sender's or a receiver's ring
 * answered after an abort, a closed end's ring and its hold on the channel's slot, ...), whose release the
 * arbiter's full --state journal refused: kept per client and tried again at its next channel open (send
 * or receive), not left held until it closes.
 */
import { failure, hasTrait, type IvshError, isIvshError, reasonOf } from "../errors.ts";
import type { Segment } from "../guest/segment.ts";
import { abortable } from "./abortable.ts";
import type { ChannelClient } from "./channel-client.ts";

/** What a full journal refused to take back from one client: tried again by `giveBackRefused`. */
interface Refused {
  segments: Set<Segment>;
  /** Channel slots whose hold's release was refused (the client counts the handle again: SlotHandles). */
  slots: Set<number>;
}

const refusedFrees = new WeakMap<ChannelClient, Refused>();

function refusedOf(client: ChannelClient): Refused {
  let refused = refusedFrees.get(client);
  if (!refused) {
    refused = { segments: new Set(), slots: new Set() };
    refusedFrees.set(client, refused);
  }
  return refused;
}

/** What a client keeps until it tries again: said in the failure whose cleanup was refused. */
const UNTIL_NEXT = "this client holds it until its next send or receive gives it back, or it closes";

/**
 * Frees a ring segment a channel end took but will not use, as it fails; the failure is what is told. But a
 * free the arbiter's full journal refused left the segment this client's until it closes, untold: a
 * long-lived client (the library's, opening again after the failure) kept another sender's ring, or a
 * gone one's, in the region for as long as it lived. So its next send or receive tries again (`giveBackRefused`),
 * and the failure's message says so (the clause returned).
 */
export async function giveBack(
  client: ChannelClient,
  segment: Segment,
  letGo?: AbortSignal,
): Promise<string | undefined> {
  // Called while failing: no other refusal of the free may stand in for the failure being told.
  const refusal = await freeOrKeep(client, segment, letGo).catch(() => undefined);
  return refusal && segmentKept(segment);
}

/**
 * `failed` (a failure that leaves `segment` unused), once `segment` is given back (`giveBack`): as it is, or
 * saying that a full journal kept the segment this client's.
 */
export async function failedGivingBack(
  client: ChannelClient,
  segment: Segment,
  failed: unknown,
  action: string,
): Promise<unknown> {
  const kept = await giveBack(client, segment);
  return kept && isIvshError(failed) ? failure(failed.code, action, `${reasonOf(failed)}; ${kept}`) : failed;
}

/**
 * `release`'s refusal by a full journal, kept (`keep`) for the client's next send or receive to try again,
 * and returned for the caller to tell. A session already gone gave it back: nothing. Any other failure is
 * thrown, as close() threw it before refusals were kept.
 */
async function keptIfRefused(release: Promise<void>, keep: () => void): Promise<IvshError | undefined> {
  const refusal = await release.then(
    () => undefined,
    (error: unknown) => error,
  );
  if (refusal === undefined || hasTrait(refusal, "harmlessOnRelease")) return undefined;
  if (!isIvshError(refusal, "JournalFull")) throw refusal;
  keep();
  return refusal;
}

/**
 * `giveBack`, but the refusal itself (kept to try again), for a caller to tell it: close() does. `letGo`:
 * see Client.status.
 */
export function freeOrKeep(
  client: ChannelClient,
  segment: Segment,
  letGo?: AbortSignal,
): Promise<IvshError | undefined> {
  return keptIfRefused(segment.freeLettingGo(letGo), () => refusedOf(client).segments.add(segment));
}

/** The clause a failure says of a segment `giveBack` kept. */
export function segmentKept(segment: Segment): string {
  return (
    `the arbiter's state journal, its file system full, refused to take back segment ${segment.id} ` +
    `('${segment.name}') that we opened: ${UNTIL_NEXT}`
  );
}

/**
 * Gives up this client's hold on a channel's slot (`slot`, its index). One the full journal refused was
 * dropped (an abort's undo, a failure's cleanup) or told and left (close()): the slot stayed this client's
 * until it closed. It is kept, as `giveBack` keeps a segment, and tried again at the next send or receive;
 * the refusal is returned for the caller to tell. Other failures are thrown. `letGo`: see Client.status.
 */
export function closeOrKeep(
  client: ChannelClient,
  slot: number,
  letGo?: AbortSignal,
): Promise<IvshError | undefined> {
  return keptIfRefused(client.closeSlot(slot, true, letGo), () => refusedOf(client).slots.add(slot));
}

/** The clause a failure says of a slot `closeOrKeep` kept. */
export function holdKept(channel: string): string {
  return `the arbiter's state journal, its file system full, refused to let go of this client's hold on channel '${channel}': ${UNTIL_NEXT}`;
}

/**
 * Tries again what a full journal refused this client (`giveBack`, `closeOrKeep`); one refused again waits
 * for the next. Not waited for past `signal`: with the arbiter away a free waits for its return, up to the
 * reconnect timeout, and an abort (Ctrl-C, --timeout) went unheeded that long. The retry goes on.
 */
export async function giveBackRefused(
  client: ChannelClient,
  verb: "send" | "receive",
  name: string,
  signal?: AbortSignal,
): Promise<void> {
  const refused = refusedFrees.get(client);
  if (!refused?.segments.size && !refused?.slots.size) return; // the usual case: no wait to make abortable
  // Its requests let go of with the abort, which ends the wait for them (Client.status).
  const retry = retryRefused(client, refused, signal);
  await abortable(retry, signal, `${verb} on channel '${name}'`, async () => {});
}

async function retryRefused(client: ChannelClient, refused: Refused, letGo?: AbortSignal): Promise<void> {
  // Lost or closing, the session gives it back with everything else: nothing left to try.
  const gone = () => client.lost !== undefined || client.isClosing;
  for (const segment of [...refused.segments]) {
    // Taken out while its free is in flight: another open's retry (two at once) found it freed then and
    // dropped it, and a refusal after that left it held, untried, until the client closed.
    if (!refused.segments.delete(segment)) continue;
    const freed = await segment.freeLettingGo(letGo).then(() => true, gone);
    if (!freed && !segment.isFreed) refused.segments.add(segment);
  }
  for (const slot of [...refused.slots]) {
    if (!refused.slots.delete(slot)) continue;
    const closed = await client.closeSlot(slot, true, letGo).then(() => true, gone);
    if (!closed) refused.slots.add(slot);
  }
}
