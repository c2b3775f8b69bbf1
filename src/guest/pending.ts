/**
 * A transport's requests awaiting their answers (./transport.ts), by id. Those whose caller gave up on the
 * answer (a heartbeat, which nobody awaits; a status a wait stopped waiting for) keep no process alive:
 * one a stopped arbiter never answered kept a script that caught the wait's error, and forgot close(),
 * alive until the arbiter was continued, or for the whole reconnect timeout.
 */

import type { IvshError } from "../errors.ts";
import type { MessageName } from "../protocol/messages.ts";

export interface Pending {
  name: MessageName;
  frame: Uint8Array;
  /** performance.now() when it was queued: its answer proves the arbiter heard us at least then. */
  sentMs: number;
  resolve(reply: unknown): void;
  reject(error: IvshError): void;
}

export class PendingRequests extends Map<number, Pending> {
  /** Ids in the map whose answer no caller awaits any more. */
  private readonly unheld = new Set<number>();

  /**
   * Listeners on the `letGo` signals of requests in the map, removed with their request: one signal serves
   * a room wait's every status, a round a second for as long as it waits, and grew a listener each round.
   */
  private readonly listeners = new Map<number, () => void>();

  /** Adds a request; once `letGo` aborts (already, or later), it is let go of and `unheld` is called. */
  add(requestId: number, pending: Pending, letGo: AbortSignal | undefined, unheld: () => void): void {
    this.set(requestId, pending);
    if (!letGo) return;
    if (letGo.aborted) {
      this.letGo(requestId);
      return;
    }
    const onAbort = () => {
      this.letGo(requestId);
      unheld();
    };
    letGo.addEventListener("abort", onAbort, { once: true });
    this.listeners.set(requestId, () => letGo.removeEventListener("abort", onAbort));
  }

  /** The request is kept (its answer matched, and dropped), but no longer awaited. */
  letGo(requestId: number): void {
    if (this.has(requestId)) this.unheld.add(requestId);
  }

  /** Whether a caller awaits an answer. */
  get awaited(): boolean {
    return this.size > this.unheld.size;
  }

  override set(requestId: number, pending: Pending): this {
    this.unheld.delete(requestId);
    return super.set(requestId, pending);
  }

  override delete(requestId: number): boolean {
    this.unheld.delete(requestId);
    this.listeners.get(requestId)?.();
    this.listeners.delete(requestId);
    return super.delete(requestId);
  }

  override clear(): void {
    this.unheld.clear();
    for (const remove of this.listeners.values()) remove();
    this.listeners.clear();
    super.clear();
  }
}
