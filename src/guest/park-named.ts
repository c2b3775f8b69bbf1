/**
 * A lock() or wait() parked when its client's close() runs (or shm_finish()) is failed by the transport,
 * in its words: "Failed to get an answer from the arbiter since this client was closed (connect() again
 * to go on)", naming neither the call nor the lock. Here the call names itself.
 */
import { failure, isIvshError, reasonOf, throwIfAborted } from "../errors.ts";
import { LOCK_OWNER_MASK, LOCK_WAITERS } from "../region/layout.ts";
import { ClientClosed } from "./link-errors.ts";
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

/**
 * A lock() whose signal aborted may have been woken by the unlock that let the lock go, a wake-up that was
 * the next waiter's: spent here, that waiter would sleep in the arbiter until its sweep saw the word changed
 * (up to a second). So it passes it on: a wake-up if the lock is free; if it is taken again (that unlock
 * cleared the waiters bit), the bit set, so its holder's unlock wakes the next. Not once close() has begun:
 * the arbiter, reading the goodbye, wakes every waiter on the client's slots.
 */
export function throwIfLockAborted(
  client: Parking & { readonly words: Int32Array },
  site: ParkSite,
  signal: AbortSignal | undefined,
  name: string,
): void {
  if (!signal?.aborted) return;
  passOnWake(client, site);
  throwIfAborted(signal, `lock '${name}'`);
}

/**
 * A lock() that leaves without the lock after a park passes on the wake-up it may have taken: a wake-up if
 * the lock is free, else the waiters bit set (the holder's unlock wakes the next). Not once close() has
 * begun: the arbiter, reading the goodbye, wakes every waiter on the client's slots.
 */
function passOnWake(client: Parking & { readonly words: Int32Array }, site: ParkSite): void {
  for (let seen = Atomics.load(client.words, site.wordIndex); !client.isClosing; ) {
    if ((seen & LOCK_OWNER_MASK) === 0) {
      client.parker.wake(site, 1);
      return;
    }
    const was = Atomics.compareExchange(client.words, site.wordIndex, seen, seen | LOCK_WAITERS);
    if (was === seen) return;
    seen = was;
  }
}

/**
 * A lock is the client's, not a task's: taking it again would wait on ourselves for ever. Found by a lock()
 * woken from its park (another task of this client took the lock first), the wake-up it may have taken is
 * passed on to the next waiter (the bit set, so that task's unlock wakes it): `site` says it parked.
 */
export function heldAlready(
  name: string,
  parked?: { client: Parking & { readonly words: Int32Array }; site: ParkSite },
) {
  if (parked) passOnWake(parked.client, parked.site);
  return failure(
    "InvalidArgument",
    `lock '${name}'`,
    "this client holds it already (a lock is held per client: tasks that contend for it each connect their own)",
  );
}

/**
 * A lock taken once close() has begun may be taken after the arbiter read the goodbye: the word would
 * then name a session that has ended, held until the arbiter's sweep releases it as owner-died. Checked
 * before the handle: the goodbye may have freed the slot meanwhile, and "the handle is stale" hid why. A
 * session lost first (a lease that expired, an arbiter that did not come back) is told as it is; a close
 * that ended is told as the call's (the transport's ClientClosed, "get an answer from the arbiter", named
 * neither the call nor the lock).
 */
export function refuseWhileClosing(
  client: Pick<Parking, "isClosing"> & { readonly lost: Error | undefined; readonly isClosed: boolean },
  name: string,
  action = `lock '${name}'`,
): void {
  const lost = client.lost;
  if (lost && !(lost instanceof ClientClosed)) throw lost;
  if (client.isClosed) throw failure("ConnectionLost", action, "its client was closed (connect() again)");
  if (client.isClosing)
    throw failure(
      "ConnectionLost",
      action,
      "its client is closing (close() has begun: its goodbye releases what it held; connect() again to go on)",
    );
}

/**
 * wait()'s taking back of its lock, refused (or its park ended) once close() has begun: said as the wait
 * its caller made, not as a lock() it never called.
 */
export async function relockForWait<T>(client: Parking, name: string, lock: () => Promise<T>): Promise<T> {
  try {
    return await lock();
  } catch (error) {
    if (!client.isClosing || !isIvshError(error) || error.code !== "ConnectionLost") throw error;
    throw failure("ConnectionLost", `wait on '${name}'`, reasonOf(error));
  }
}
