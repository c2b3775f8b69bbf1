/**
 * A lock() or wait() parked when its client's close() runs (or shm_finish()) is failed by the transport,
 * in its words: "Failed to get an answer from the arbiter since this client was closed (connect() again
 * to go on)", naming neither the call nor the lock. Here the call names itself.
 */
import { failure, isIvshError } from "../errors.ts";
import type { ParkDeadline, Parker, ParkSite } from "./parking.ts";

/** What of a client this needs (a SlotOwner, sync.ts). */
interface Parking {
  readonly parker: Parker;
  readonly isClosing: boolean;
}

export async function parkNamed(
  client: Parking,
  site: ParkSite,
  expected: number,
  wait: ParkDeadline,
  action: string,
): Promise<void> {
  try {
    await client.parker.park(site, expected, wait);
  } catch (error) {
    // Only the close's own failure is renamed: a lease that expired first is its own story, told as it is.
    if (!client.isClosing || !isIvshError(error) || error.code !== "ConnectionLost") throw error;
    throw failure(
      "ConnectionLost",
      action,
      "this client was closed while it waited (close() or shm_finish())",
    );
  }
}
