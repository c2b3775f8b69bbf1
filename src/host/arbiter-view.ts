/**
 * What the request dispatcher, the handlers and the status report see of the arbiter: `Arbiter`
 * (arbiter.ts) implements it, and they depend on this instead of on the class, which depends on them.
 */
import type { MappedRegion } from "../region/mapping.ts";
import type { Connection } from "./connection.ts";
import type { ConnectionLimit } from "./connection-limit.ts";
import type { HandoverInbox } from "./handover.ts";
import type { HostWakes } from "./host-wakes.ts";
import type { JournalOutage } from "./journal-outage.ts";
import type { EndReason } from "./oplog.ts";
import type { RegionGuard } from "./region-guard.ts";
import type { RegionOptions } from "./setup.ts";
import type { RegionSlots } from "./slots.ts";
import type { ArbiterState, Limits } from "./state.ts";
import type { TransferWatch } from "./transfers.ts";
import type { WaitQueue } from "./wait-queue.ts";

export interface ArbiterOptions extends RegionOptions, Limits {
  socketPath: string;
  leaseMs: number;
  /** A connection that sends no hello within this is closed. */
  helloWaitMs: number;
}

export interface Liveness {
  connection: Connection | undefined;
  /**
   * performance.now() when the client was last heard: the monotonic clock, as a step of the wall clock
   * (NTP, `date -s`) back by an hour kept a frozen client's locks for that hour.
   */
  lastSeenMs: number;
  /** The arbiter's own stalled time (`Arbiter.stalledMs`) when the client was last heard. */
  stalledAtSeenMs: number;
  /** Silent for over a lease at the last sweep: expired at the next one if still silent. */
  overdue?: boolean;
}

/**
 * The arbiter's parts appear here only by what the handlers and the status report use of them: the
 * mapping to zero fresh segments (and its header, to say whom it greeted), slot words to read, the wait
 * queue, the guard's and the transfers' reports.
 */
export interface ArbiterView {
  readonly options: ArbiterOptions;
  readonly region: Pick<MappedRegion, "zero" | "headerWords">;
  readonly state: ArbiterState;
  readonly slots: Pick<RegionSlots, "index" | "load" | "loadAt">;
  readonly waits: Pick<WaitQueue, "park" | "parkedBy" | "wake" | "count" | "dropClient">;
  readonly liveness: ReadonlyMap<number, Liveness>;
  /** Connections open, per VM too (--vm-connections). */
  readonly connections: Pick<ConnectionLimit, "joinVm" | "newSessionRefusal" | "vmConnections">;
  readonly guard: Pick<RegionGuard, "status">;
  /** Transfers in progress on the channels, sampled each sweep. */
  readonly transfers: Pick<TransferWatch, "report">;
  /** The host's futex sleepers, which the arbiter wakes for wakers in guests and for dead holders. */
  readonly hostWakes: Pick<HostWakes, "wakeWord"> | undefined;
  readonly epoch: number;
  /** performance.now() when this arbiter process started. */
  readonly startedMs: number;
  /** Sessions with a live connection. */
  readonly connectedCount: number;
  /** State journal compactions taken over since start. */
  readonly compactions: number;
  /** Whether the state journal refuses changes now (its file system full), for the status report. */
  readonly journalOutage: Pick<JournalOutage, "report">;
  /** What the sweep found the operator must mend (the region file or socket removed under it, ...). */
  readonly problems: readonly string[];
  /** A session's connection from now on (hello, or a reconnect taking the session over). */
  attach(clientId: number, connection: Connection): void;
  /** The client was heard from. */
  touch(clientId: number): void;
  connectionOf(clientId: number): Connection | undefined;
  endSession(clientId: number, reason: EndReason): void;
  /** Runs `change` and journals what it committed as one unit. */
  transaction<T>(change: () => T): T;
  /** Wakes every waiter of a slot, queued or on the host's futex. */
  wakeSlot(slot: number): void;
  /** The hand-over socket, told of each connection a bridge relays (identify) instead. */
  readonly inbox: Pick<HandoverInbox, "noteRelayed"> | undefined;
  /** Takes over the guest connection a bridge left in the hand-over socket under `nonce`. */
  adoptHandedOver(nonce: string): void;
}
