/**
 * What the arbiter persists: one JSON object per line in the --state file. A record states an effect
 * (this segment now occupies these blocks), never a request to re-run, so replay does not depend on the
 * allocator making the same choices twice. A snapshot is the same records describing the current state.
 */
import type { AccessModeName } from "../protocol/messages.ts";
import type { SegmentFields } from "../protocol/status-report.ts";
import type { Geometry, SlotKindName } from "../region/layout.ts";

export const STATE_FORMAT = 1;

/** A session as persisted: who the client is. */
export interface SessionFields {
  clientId: number;
  token: string;
  name: string;
  pid: number;
  vm: string;
}

/** A named synchronisation object as persisted. */
export interface SyncFields {
  slot: number;
  name: string;
  kind: SlotKindName;
  generation: number;
}

export type StateRecord =
  /** First line of every state file: what region it describes and the id counters. */
  | {
      t: "begin";
      format: number;
      region: string;
      geometry: Geometry;
      epoch: number;
      nextClientId: number;
      nextSegmentId: number;
      /** Highest slot generation handed out (absent in files written before it existed). */
      lastGeneration?: number;
    }
  | { t: "epoch"; epoch: number }
  | ({ t: "session" } & SessionFields)
  | { t: "session-end"; clientId: number }
  /**
   * `creatorVm`: the VM its blocks are charged to for as long as it lives (absent in files written before
   * it was recorded, then the creator's session says, if it is still in the file).
   */
  | ({ t: "segment" } & SegmentFields & { creatorVm?: string })
  | { t: "grant"; segmentId: number; clientId: number; mode: AccessModeName }
  | { t: "ungrant"; segmentId: number; clientId: number }
  | { t: "segment-free"; segmentId: number }
  | ({ t: "sync" } & SyncFields)
  | { t: "sync-hold"; slot: number; clientId: number }
  | { t: "sync-release"; slot: number; clientId: number }
  | { t: "sync-free"; slot: number }
  /** The reply to a mutating request, so a request re-sent after a reconnect is answered, not re-run. */
  | { t: "reply"; clientId: number; requestId: number; op: string; reply: Record<string, number | string> };

/** Every record type a journal of STATE_FORMAT holds, and the change header ("tx"). */
const LINE_TYPES = new Set([
  ...["begin", "epoch", "session", "session-end", "segment", "grant", "ungrant", "segment-free"],
  ...["sync", "sync-hold", "sync-release", "sync-free", "reply", "tx"],
]);

/**
 * Why a parsed line is no record of this format (undefined if it is one). Replay ignores a type it does
 * not know: a damaged type, or a newer ivsh's record, would drop what it described without a word.
 */
export function notARecord(line: unknown): string | undefined {
  if (typeof line !== "object" || line === null || Array.isArray(line)) return "is not a state record";
  const type = (line as { t?: unknown }).t;
  if (typeof type !== "string") return "is not a state record (it has no type 't')";
  return LINE_TYPES.has(type) ? undefined : `is a record of an unknown type '${type}'`;
}

export interface Journal {
  append(record: StateRecord): void;
  /** Throws, before the record is applied, while the journal is known to refuse changes. */
  admit?(): void;
  /**
   * Runs `effect` (a change to the region's words) once the records committed so far are written: at once
   * outside a transaction, at its end inside one, never if the write fails.
   */
  afterWrite?(effect: () => void): void;
}

/**
 * A change of several records is written as one write(2) led by this line. The kernel stops a write to a
 * file at a page boundary once kill -9 is pending, leaving whole lines of a change but not all: replayed,
 * an alloc's segment without its grant kept its blocks and its name for ever. Such a change is dropped
 * whole on load (`wholeChanges`).
 */
export function changeHeader(records: number): string {
  return `{"t":"tx","n":${records}}\n`;
}

/** Parsed lines without change headers, and without a last change that did not reach the file whole. */
export function wholeChanges(lines: readonly unknown[]): { records: StateRecord[]; cut: boolean } {
  const records: StateRecord[] = [];
  let open: { at: number; left: number } | undefined;
  for (const line of lines as (StateRecord | { t: "tx"; n: number })[]) {
    if (line.t === "tx") {
      open = { at: records.length, left: line.n };
      continue;
    }
    records.push(line);
    if (open && --open.left === 0) open = undefined;
  }
  if (open) records.length = open.at;
  return { records, cut: open !== undefined };
}
