/**
 * What the arbiter persists: one JSON object per line in the --state file. A record states an effect
 * (this segment now occupies these blocks), never a request to re-run, so replay does not depend on the
 * allocator making the same choices twice. A snapshot is the same records describing the current state.
 */
import { AccessMode, type AccessModeName } from "../protocol/messages.ts";
import type { SegmentFields } from "../protocol/status-report.ts";
import { type Geometry, SlotKind, type SlotKindName } from "../region/layout.ts";

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

/** What a field of a record holds: a whole number from 0 (from 1), text, an access mode, a slot kind, an object. */
type FieldKind = "count" | "positive" | "text" | "mode" | "kind" | "object";

/** The fields each record type of STATE_FORMAT has, as the arbiter writes them ("?": absent in older files). */
const RECORD_FIELDS: Record<string, Record<string, FieldKind | `${FieldKind}?`>> = {
  begin: {
    ...{ format: "count", region: "text", geometry: "object", epoch: "count" },
    ...{ nextClientId: "count", nextSegmentId: "count", lastGeneration: "count?" },
  },
  epoch: { epoch: "count" },
  session: { clientId: "count", token: "text", name: "text", pid: "count", vm: "text" },
  "session-end": { clientId: "count" },
  segment: {
    ...{ id: "count", name: "text", firstBlock: "count", blockCount: "count", bytes: "count" },
    ...{ creator: "count", creatorVm: "text?" },
  },
  grant: { segmentId: "count", clientId: "count", mode: "mode" },
  ungrant: { segmentId: "count", clientId: "count" },
  "segment-free": { segmentId: "count" },
  sync: { slot: "count", name: "text", kind: "kind", generation: "count" },
  "sync-hold": { slot: "count", clientId: "count" },
  "sync-release": { slot: "count", clientId: "count" },
  "sync-free": { slot: "count" },
  reply: { clientId: "count", requestId: "count", op: "text", reply: "object" },
  tx: { n: "positive" },
};

const GEOMETRY_FIELDS = ["regionSize", "blockSize", "blockCount", "slotCount", "slotOffset", "dataOffset"];

const KIND_CHECKS: Record<FieldKind, [(value: unknown) => boolean, string]> = {
  count: [(value) => Number.isSafeInteger(value) && (value as number) >= 0, "a whole number"],
  positive: [(value) => Number.isSafeInteger(value) && (value as number) >= 1, "a whole number from 1"],
  text: [(value) => typeof value === "string", "text"],
  mode: [
    (value) => typeof value === "string" && Object.hasOwn(AccessMode, value),
    "read, write or write-exclusive",
  ],
  kind: [
    (value) => typeof value === "string" && value !== "free" && Object.hasOwn(SlotKind, value),
    "mutex, condvar or channel",
  ],
  object: [(value) => typeof value === "object" && value !== null && !Array.isArray(value), "an object"],
};

/** Each record type's fields with their checks, worked out once: a restart checks every record of the journal. */
const FIELD_CHECKS = new Map(
  Object.entries(RECORD_FIELDS).map(([type, fields]) => [
    type,
    Object.entries(fields).map(([field, spec]) => {
      const [fits, what] = KIND_CHECKS[spec.replace("?", "") as FieldKind];
      return { field, fits, what, optional: spec.endsWith("?") };
    }),
  ]),
);

/**
 * Why a record of a known type (notARecord passed it) holds a field no arbiter writes, undefined if none:
 * replay took such values as they were (a kind 'spoon' crashed the sweeps, an epoch "x" restarted the
 * region in epoch 1, a change header's count "x" dropped every record after it as a torn change).
 */
export function badField(record: { t: string }): string | undefined {
  const values = record as unknown as Record<string, unknown>;
  for (const { field, fits, what, optional } of FIELD_CHECKS.get(record.t) ?? []) {
    const value = values[field];
    if (value === undefined) {
      if (optional) continue;
      return `its ${field} is missing`;
    }
    if (!fits(value)) return `its ${field} ${shownValue(value)} is not ${what}`;
  }
  if (record.t !== "begin") return undefined;
  const geometry = values.geometry as Record<string, unknown>;
  const field = GEOMETRY_FIELDS.find((name) => !KIND_CHECKS.count[0](geometry[name]));
  if (field === undefined) return undefined;
  if (geometry[field] === undefined) return `its geometry's ${field} is missing`;
  return `its geometry's ${field} ${shownValue(geometry[field])} is not a whole number`;
}

function shownValue(value: unknown): string {
  if (typeof value === "string") return `'${value.slice(0, 40)}'`;
  return typeof value === "object" && value !== null ? "(an object)" : String(value);
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
