/**
 * The shape of `ivsh status`: what the arbiter reports of blocks, segments, clients, VMs, synchronisation
 * objects and its integrity checks. It is part of the interface (`ivsh status --json` prints it as is,
 * clients receive it from `Client.status()`), so it lives with the protocol, not with the arbiter that
 * builds it (src/host/status.ts).
 */

/** A segment: where it lies and who made it (the arbiter persists the same fields). */
export interface SegmentFields {
  id: number;
  name: string;
  firstBlock: number;
  blockCount: number;
  bytes: number;
  creator: number;
}

/** What the arbiter found overwritten in the region, and put back. */
export interface IntegrityStatus {
  /** Sweeps that compared the region with the arbiter's state. */
  checks: number;
  /** Values found overwritten and put back (header fields, slot words, lock words). */
  repairs: number;
  /** What was found, newest last, with when. */
  findings: { atMs: number; what: string }[];
}

/** A transfer in progress on a channel (progress as the sender's record headers tell it). */
export interface TransferStatus {
  channel: string;
  slot: number;
  /** Client ids holding the channel's sender and receiver roles (0: none now). */
  sender: number;
  receiver: number;
  /**
   * The VM of each end's session ("host": a process on the host), when there is that end; absent from
   * an arbiter older than these fields.
   */
  senderVm?: string;
  receiverVm?: string;
  /** "streaming", or "keeping" while the receiver renames its verified file. */
  state: string;
  /** Bytes the sender has published so far. */
  bytes: number;
  /** The stream's size if the sender knows it (a regular file), else 0. */
  totalBytes: number;
  /** Over the arbiter's last sweep (about a second); 0 until it has two samples. */
  bytesPerSecond: number;
}

/** One client in a status report: who it is, whether it is connected, what it holds. */
export interface StatusClient {
  clientId: number;
  name: string;
  pid: number;
  vm: string;
  connected: boolean;
  idleMs: number;
  blocksAllocated: number;
  grants: number;
}

/**
 * What `Client.status()` (and `ivsh status --json`) returns: the arbiter's view of the region. (`ivsh status
 * --json` adds `arbiterInstanceHex`, `arbiterInstance` in hex as its text names it.)
 */
export interface StatusReport {
  epoch: number;
  arbiterPid: number;
  /** The random number that tells this arbiter from others (pids repeat across containers). */
  arbiterInstance: number;
  /**
   * The ivsh the arbiter runs, as its `ivsh --version` prints it: "0.1.0 (6b2c4b13e0aa 2026-12-07)" from an
   * executable `npm run build` made, the release alone from source (absent from older arbiters).
   */
  arbiterVersion?: string;
  leaseMs: number;
  /** Milliseconds since this arbiter process started serving. */
  uptimeMs: number;
  region: { path: string; size: number; blockSize: number; blockCount: number; slotCount: number };
  blocks: { total: number; free: number; used: number };
  /**
   * The session that asked, and its VM's share (so a tool can leave its own session out); clientId 0 for
   * a status asked without a session (before hello).
   */
  requester: { clientId: number; vm: string; vmClients: number; vmBlocksAllocated: number };
  /**
   * The arbiter's limits per client and per VM (`ivsh host --client-quota` etc.), 0 for none (absent from
   * older arbiters).
   */
  limits?: { clientQuotaBlocks: number; vmQuotaBlocks: number; vmSlots: number; vmConnections: number };
  /** State journal compactions taken over since this arbiter process started. */
  compactions: number;
  /**
   * Present while the state journal cannot be written and changes are refused: gone within a sweep of the
   * cause going away, whether or not a change comes (the sweep tries a write, cut off again).
   */
  journalOutage?: JournalOutageReport;
  /**
   * Present only while the arbiter serves on with something the operator must mend (its region file,
   * socket, hand-over socket, wake-up file or state journal removed or replaced under it): each says what and
   * what to do. With
   * `journalOutage`, what a monitor looks for: an arbiter with neither is healthy.
   */
  problems?: string[];
  /**
   * How many there are of each; the lists below hold at most the request's `limit` of them. (`transfers`:
   * in progress; absent from an arbiter older than it.)
   */
  totals: {
    segments: number;
    clients: number;
    connected: number;
    vms: number;
    sync: number;
    transfers?: number;
  };
  /** `holders` lists at most `limit` of the segment's `holderCount` holders. */
  segments: (SegmentFields & { holderCount: number; holders: { clientId: number; mode: string }[] })[];
  clients: StatusClient[];
  /**
   * Per VM: its client count, at most `limit` of its client ids, and the blocks its clients allocated (a
   * segment counts against its creator's VM while it lives, so a VM with no clients left may be listed).
   */
  vms: {
    vm: string;
    clients: number[];
    clientCount: number;
    blocksAllocated: number;
    /** Synchronisation slots its clients hold, each once (absent from older arbiters). */
    slotsHeld?: number;
    /** Connections open, counted from when the VM is known: a guest's bridge, a host process's hello. */
    connections?: number;
  }[];
  /** `holders` lists at most `limit` of the object's `holderCount` holders (absent from older arbiters). */
  sync: {
    slot: number;
    name: string;
    kind: string;
    holders: number[];
    holderCount?: number;
    lockOwner: number;
    ownerDied: boolean;
    waiters: number;
  }[];
  /** Transfers in progress, at most the request's `limit`. */
  transfers: TransferStatus[];
  /** What the arbiter found overwritten in the region, and put back. */
  integrity: IntegrityStatus;
}

/** A state journal that cannot be written (its file system full, read-only, ...): changes are refused. */
export interface JournalOutageReport {
  /** Milliseconds since the first refused change. */
  forMs: number;
  /** Changes refused since then. */
  refused: number;
  /** The write's failure, naming the journal and what to do. */
  error: string;
}
