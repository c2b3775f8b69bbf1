/**
 * The arbiter's watch over what any guest can overwrite: IVSHMEM gives no isolation, so a buggy or hostile
 * guest may scribble over the header or the slot table. The arbiter's own state is authoritative (it never
 * reads its bookkeeping back from the region), so on every sweep it compares what it wrote with what is
 * there, puts back what it owns, and says what it found (log and `ivsh status`):
 * - the header: every field but the probe area;
 * - each slot's `kind` and `generation` words (a free slot holds neither);
 * - lock words naming a client that does not exist, or one that has not opened the object: released as
 *   owner-died, so nobody waits forever for an owner that will never unlock;
 * - the list of unrecorded session ends (bytes 64 to 2048): an entry the arbiter did not write would end a
 *   live session at the next start (./late-ends.ts).
 * Words that clients own (counters, sequence numbers, channel state) cannot be checked here; the clients
 * check those where they read them.
 */
import type { IntegrityStatus } from "../protocol/status-report.ts";
import { headerDifferences, writeHeader } from "../region/header.ts";
import type { HeaderFields } from "../region/layout.ts";
import type { LateEnds } from "./late-ends.ts";
import { ITEMS_PER_YIELD, runAtOnce } from "./slices.ts";
import type { RegionSlots } from "./slots.ts";
import type { ArbiterState } from "./state.ts";

/** Findings kept for `ivsh status`: the most recent ones. */
const KEPT_FINDINGS = 20;

export interface GuardResult {
  findings: string[];
  /** Slots whose lock words were released: their waiters must be woken to see it. */
  releasedSlots: number[];
}

export class RegionGuard {
  readonly status: IntegrityStatus = { checks: 0, repairs: 0, findings: [] };

  constructor(
    private readonly sync: Int32Array,
    private readonly slots: RegionSlots,
    private readonly header: () => HeaderFields,
  ) {}

  check(state: ArbiterState, lateEnds?: Pick<LateEnds, "restoreListing">): GuardResult {
    return runAtOnce(this.checkInSteps(state, lateEnds));
  }

  /**
   * The check, yielding between groups of slots (./slices.ts): the sweep runs it a slice at a time. Each
   * slot is compared with the state as it is when its turn comes, so requests served in between are seen.
   */
  *checkInSteps(
    state: ArbiterState,
    lateEnds?: Pick<LateEnds, "restoreListing">,
  ): Generator<void, GuardResult> {
    this.status.checks++;
    const result: GuardResult = { findings: [], releasedSlots: [] };
    this.checkHeader(result);
    if (lateEnds) this.checkEndsList(lateEnds, result);
    const isClient = (clientId: number) => state.sessions.has(clientId);
    const freeRestored: FreeRestored = { slots: [], words: new Set() };
    for (let slot = 0; slot < state.geometry.slotCount; slot++) {
      this.checkSlot(state, slot, isClient, result, freeRestored);
      if (slot % ITEMS_PER_YIELD === ITEMS_PER_YIELD - 1) yield;
    }
    if (freeRestored.slots.length > 0) result.findings.push(freeSlotsFinding(freeRestored));
    const atMs = Date.now();
    for (const what of result.findings) this.status.findings.push({ atMs, what });
    this.status.findings.splice(0, Math.max(0, this.status.findings.length - KEPT_FINDINGS));
    return result;
  }

  private checkHeader(result: GuardResult): void {
    const fields = this.header();
    const differing = headerDifferences(this.sync, fields);
    if (differing.length === 0) return;
    writeHeader(this.sync, fields);
    this.status.repairs += differing.length;
    result.findings.push(`the region header was overwritten (${differing.join(", ")}): rewrote it`);
  }

  private checkEndsList(lateEnds: Pick<LateEnds, "restoreListing">, result: GuardResult): void {
    const { forged, garbage, relisted } = lateEnds.restoreListing();
    const cleared = [
      ...(forged.length > 0 ? [`entries for client ${forged.map((id) => `#${id}`).join(", ")}`] : []),
      ...(garbage > 0 ? [`${garbage} entr${garbage === 1 ? "y" : "ies"} of garbage`] : []),
    ];
    if (cleared.length > 0)
      result.findings.push(
        `the header's list of unrecorded session ends held ${cleared.join(" and ")} that this arbiter did not write ` +
          "(overwritten): cleared them, so that the next start ends no live session",
      );
    if (relisted.length > 0)
      result.findings.push(
        `the header's list of unrecorded session ends had lost client ${relisted.map((id) => `#${id}`).join(", ")} (overwritten): listed again`,
      );
    this.status.repairs += forged.length + garbage + relisted.length;
  }

  private checkSlot(
    state: ArbiterState,
    slot: number,
    isClient: (clientId: number) => boolean,
    result: GuardResult,
    freeRestored: FreeRestored,
  ): void {
    const object = state.syncObjects.get(slot);
    const restored = this.slots.restoreIdentity(slot, object?.kind, object?.generation ?? 0);
    this.status.repairs += restored.length;
    if (!object) {
      // Said together: garbage over the slot table would be a line per slot (a million with --slots 1Mi).
      if (restored.length > 0) freeRestored.slots.push(slot);
      for (const word of restored) freeRestored.words.add(word);
      return;
    }
    if (restored.length > 0)
      result.findings.push(
        `slot ${slot} (${object.kind} '${object.name}'): its ${restored.join(" and ")} word was overwritten: restored`,
      );
    // Only a client that opened the object can have taken its lock (and a close releases it).
    const mayHold = (clientId: number) => object.holders.has(clientId) && isClient(clientId);
    const bogus = this.slots.releaseUnknownOwners(slot, object.kind, mayHold);
    if (bogus.length === 0) return;
    this.status.repairs += bogus.length;
    result.releasedSlots.push(slot);
    const named = bogus.map(
      (clientId) =>
        `client ${clientId}, which ${isClient(clientId) ? "has not opened it" : "does not exist"}`,
    );
    result.findings.push(
      `slot ${slot} (${object.kind} '${object.name}'): a lock word named ${named.join(", ")} ` +
        "(overwritten): released it as owner-died",
    );
  }
}

/** Free slots whose identity words the sweep put back, and which words. */
interface FreeRestored {
  slots: number[];
  words: Set<string>;
}

/** Free slots the guard lists by number in one finding; the rest are counted. */
const LISTED_FREE_SLOTS = 8;

function freeSlotsFinding({ slots, words }: FreeRestored): string {
  const which = [...words].join(" and ");
  if (slots.length === 1)
    return `slot ${slots[0]} (a free slot): its ${which} word was overwritten: restored`;
  const listed = slots.slice(0, LISTED_FREE_SLOTS).join(", ");
  const more = slots.length > LISTED_FREE_SLOTS ? ` and ${slots.length - LISTED_FREE_SLOTS} more` : "";
  return `${slots.length} free slots (slot ${listed}${more}): their ${which} words were overwritten: restored`;
}
