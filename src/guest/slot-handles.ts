/**
 * A client's handles on synchronisation slots. The arbiter keeps one hold per client on a slot, however
 * many handles the client opened (two `mutex("m")`, a second sender on a channel of its own); so the
 * client counts them and gives the hold up with the last one only: closing a second mutex handle had
 * released the first one's lock.
 */
import { hasTrait } from "../errors.ts";

export class SlotHandles {
  private readonly handles = new Map<number, number>();
  /** Opens sent but not yet answered: their slot is not known until then. */
  private readonly opening = new Set<Promise<unknown>>();

  /** Counts the handle `request` (a syncOpen) opens, once it is answered. */
  async open<T extends { slot: number }>(request: Promise<T>): Promise<T> {
    this.opening.add(request);
    try {
      const opened = await request;
      this.handles.set(opened.slot, (this.handles.get(opened.slot) ?? 0) + 1);
      return opened;
    } finally {
      this.opening.delete(request);
    }
  }

  /**
   * Drops a handle on `slot`; if it was the last, `giveUp` sends the hold's release. An open in flight
   * may be answered with this very slot (it was held, so the arbiter just says so): it is waited for,
   * else the close would free the slot under the handle that open is about to make. `giveUp` is called
   * in the same turn as the decision: an open sent in between (a microtask later, `close(); mutex(name)`)
   * would reach the arbiter first, and the release would then drop the hold that open's handle stands on.
   * With `keep`, a release refused (a full journal) counts the handle again: its caller keeps it open. Not
   * one that leaves no hold (harmlessOnRelease: NotHeld, a session gone): counted again, it stood in for a
   * hold the arbiter no longer had, and the next handle's close on that slot then sent no release.
   */
  async closing(slot: number, giveUp: () => Promise<unknown>, keep = false): Promise<void> {
    while (this.opening.size > 0) await Promise.allSettled([...this.opening]);
    const handles = this.handles.get(slot) ?? 0;
    if (handles > 1) {
      this.handles.set(slot, handles - 1);
      return;
    }
    this.handles.delete(slot);
    try {
      await giveUp();
    } catch (error) {
      // Not given up: the handle stays, and its later close must send the release again.
      if (keep && !hasTrait(error, "harmlessOnRelease"))
        this.handles.set(slot, (this.handles.get(slot) ?? 0) + 1);
      throw error;
    }
  }
}
