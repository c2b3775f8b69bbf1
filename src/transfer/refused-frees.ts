/**
 * Ring segments a channel end took but will not use (a ring found overwritten, a sender's or a receiver's
 * ring answered after an abort, ...), whose free the arbiter's full --state journal refused: kept per
 * client and tried again at its next channel open (send or receive), not left held until it closes.
 */
import { isIvshError } from "../errors.ts";
import type { Segment } from "../guest/segment.ts";
import { abortable } from "./abortable.ts";
import type { ChannelClient } from "./channel-client.ts";

/** Segments whose free a full journal refused (`giveBack`), per client: tried again by `giveBackRefused`. */
const refusedFrees = new WeakMap<ChannelClient, Set<Segment>>();

/**
 * Frees a ring segment a channel end took but will not use, as it fails; the failure is what is told. But a
 * free the arbiter's full journal refused left the segment this client's until it closes, untold: a
 * long-lived client (the library's, opening again after the failure) kept another sender's ring, or a
 * gone one's, in the region for as long as it lived. So its next send or receive tries again (`giveBackRefused`),
 * and the failure's message says so (the clause returned).
 */
export async function giveBack(client: ChannelClient, segment: Segment): Promise<string | undefined> {
  const refusal = await segment.free().then(
    () => undefined,
    (error: unknown) => error,
  );
  if (!isIvshError(refusal, "JournalFull")) return undefined; // a session lost gave it back already
  const refused = refusedFrees.get(client) ?? new Set();
  refusedFrees.set(client, refused.add(segment));
  return (
    `the arbiter's state journal, its file system full, refused to take back segment ${segment.id} ` +
    `('${segment.name}') that we opened: this client holds it until its next send or receive gives it back, or it closes`
  );
}

/**
 * Tries again the frees a full journal refused this client (`giveBack`); one refused again waits for the
 * next. Not waited for past `signal`: with the arbiter away a free waits for its return, up to the
 * reconnect timeout, and an abort (Ctrl-C, --timeout) went unheeded that long. The retry goes on.
 */
export async function giveBackRefused(
  client: ChannelClient,
  verb: "send" | "receive",
  name: string,
  signal?: AbortSignal,
): Promise<void> {
  if (!refusedFrees.get(client)?.size) return; // the usual case: nothing to try, no wait to make abortable
  await abortable(retryRefused(client), signal, `${verb} on channel '${name}'`, async () => {});
}

async function retryRefused(client: ChannelClient): Promise<void> {
  const refused = refusedFrees.get(client);
  if (!refused) return;
  for (const segment of [...refused]) {
    // Taken out while its free is in flight: another open's retry (two at once) found it freed then and
    // dropped it, and a refusal after that left it held, untried, until the client closed.
    if (!refused.delete(segment)) continue;
    // Lost or closing, the session gives it back with everything else: nothing left to try.
    const freed = await segment.free().then(
      () => true,
      () => client.lost !== undefined || client.isClosing,
    );
    if (!freed && !segment.isFreed) refused.add(segment);
  }
}
