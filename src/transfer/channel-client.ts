/**
 * What a channel needs of its client, and nothing more: the region's slot words, waits and wakes on them,
 * lease checks, a slot by name, a ring segment, and the arbiter's view of a peer. `Client` (src/guest)
 * provides it; the channel code depends on this shape, not on the client's other parts.
 */

import type { IvshError } from "../errors.ts";
import type { AllocOptions } from "../guest/client.ts";
import type { Segment } from "../guest/segment.ts";
import type { Reply } from "../protocol/messages.ts";
import type { StatusReport } from "../protocol/status-report.ts";
import type { Geometry, SlotKindName } from "../region/layout.ts";

/** The client's connection to the arbiter, as a transfer's wait for its peer watches it. */
export interface ArbiterLink {
  /**
   * False from the connection's drop until a reconnect's hello is answered. A socket that an attempt has
   * open is not the arbiter back: through a guest's bridge every attempt is accepted, and closed once the
   * bridge finds no arbiter.
   */
  readonly greeted: boolean;
  /** When this process saw the connection drop (performance.now()); undefined while greeted. */
  readonly downSinceMs: number | undefined;
  /** Fails every request waiting on the connection with `error`, and marks the connection lost. */
  fail(error: IvshError): void;
}

/**
 * What a channel end needs of its client: pass the `Client` that `connect()` returned. (Its other members,
 * the region's words and the waits on them, are the library's own and not declared for users.)
 */
export interface ChannelClient {
  readonly clientId: number;
  /** The arbiter's lease: a session it restores after a restart has this long to resume. */
  readonly leaseMs: number;
  /** @internal */
  readonly geometry: Geometry;
  /** @internal The region's slot words (header and slots). */
  readonly words: Int32Array;
  /** @internal The region's file and size: told apart, a ring's EFAULT is a full file system or a truncation. */
  readonly region?: { readonly source: string; readonly size: number };
  /** Set once the session is gone for good. */
  readonly lost: IvshError | undefined;
  /** Once close() has finished the region is unmapped: nothing may touch `words` then. */
  readonly isClosed: boolean;
  /** @internal Once close() has begun its data area is withdrawn: a ring may no longer be read or written. */
  readonly isClosing: boolean;
  /** @internal */
  readonly arbiterLink: ArbiterLink;
  alloc(size: number, options?: AllocOptions): Promise<Segment>;
  open(name: string, mode?: "read" | "write" | "write-exclusive"): Promise<Segment>;
  /** @internal alloc(), let go of once `letGo` aborts: for a caller that stops waiting for it. */
  allocLettingGo(size: number, options: AllocOptions, letGo?: AbortSignal): Promise<Segment>;
  /** @internal open(), let go of once `letGo` aborts. */
  openLettingGo(
    name: string,
    mode: "read" | "write" | "write-exclusive",
    letGo?: AbortSignal,
  ): Promise<Segment>;
  /** @internal */
  openSlot(
    name: string,
    kind: SlotKindName,
    create: boolean,
    letGo?: AbortSignal,
  ): Promise<Reply<"syncOpen">>;
  /** @internal */
  closeSlot(slot: number, keep?: boolean, letGo?: AbortSignal): Promise<void>;
  /** @internal */
  waitWord(
    slot: number,
    word: number,
    expected: number,
    timeoutMs?: number,
    letGo?: AbortSignal,
  ): Promise<boolean>;
  /** @internal */
  wakeWord(slot: number, word: number, count: number): void;
  keepAlive(): void;
  leaseInDoubt(): boolean;
  /** @internal Whether this process itself (not the arbiter) was stopped or starved past half its lease. */
  wasFrozen(): boolean;
  confirmLease(): Promise<void>;
  /** @internal confirmLease(), let go of once `letGo` aborts: for a caller that stops waiting for it. */
  confirmLeaseLettingGo(letGo?: AbortSignal): Promise<void>;
  /** The arbiter's report; `onlyClient` asks whether that client still has a session; see Client.status. */
  status(limit?: number, onlyClient?: number, letGo?: AbortSignal): Promise<StatusReport>;
}
