/**
 * The sessions whose end the state journal could not record (./late-ends.ts), kept in the region's header
 * too: the arbiter may die or be stopped before the journal takes changes again, and the next start, which
 * restores what the journal holds, would let their clients resume them believing they still hold the locks
 * that were released as owner-died. The header page is written in memory (no file-system room needed,
 * which is what the journal lacked) and outlives the arbiter's process, as the region does.
 *
 * Bytes 64 to 2048 of the header (unused otherwise, docs/layout.md section 2): 248 entries of two u32, a
 * client id and the id XOR a tag XOR the epoch of the arbiter that wrote it (the epoch its journal's last
 * start recorded); an entry whose words disagree (another arbiter's, a guest's scribble, a write cut
 * short) is none, and so is id 0. An entry is written or cleared alone: a death between two stores loses
 * at most the entry being written.
 */
import { Header } from "../region/layout.ts";

const FIRST_WORD = Header.unrecordedEnds >> 2;
const TAG = 0x444e4555; // "UEND"
export const UNRECORDED_ENDS_MAX = ((Header.probeArea >> 2) - FIRST_WORD) >> 1;

const idWord = (entry: number) => FIRST_WORD + 2 * entry;
const checkOf = (clientId: number, epoch: number) => clientId ^ TAG ^ epoch;

function listedAt(header: Int32Array, entry: number, epoch: number): number {
  const clientId = Atomics.load(header, idWord(entry));
  if (clientId <= 0 || Atomics.load(header, idWord(entry) + 1) !== checkOf(clientId, epoch)) return 0;
  return clientId;
}

/** The client ids that the arbiter of `epoch` listed in `header` (the header page's words). */
export function unrecordedEnds(header: Int32Array, epoch: number): number[] {
  const clientIds: number[] = [];
  for (let entry = 0; entry < UNRECORDED_ENDS_MAX; entry++) {
    const clientId = listedAt(header, entry, epoch);
    if (clientId > 0) clientIds.push(clientId);
  }
  return clientIds;
}

/** Lists `clientId`; false if every entry is taken (then a restart may restore its session). */
export function listUnrecordedEnd(header: Int32Array, epoch: number, clientId: number): boolean {
  let free: number | undefined;
  for (let entry = 0; entry < UNRECORDED_ENDS_MAX; entry++) {
    const listed = listedAt(header, entry, epoch);
    if (listed === clientId) return true;
    if (listed === 0) free ??= entry;
  }
  if (free === undefined) return false;
  // The check first, the id last: an entry whose id is still 0 is none, whatever its check says.
  Atomics.store(header, idWord(free), 0);
  Atomics.store(header, idWord(free) + 1, checkOf(clientId, epoch));
  Atomics.store(header, idWord(free), clientId);
  return true;
}

/** Takes `clientId` off the list: its end is recorded. */
export function unlistUnrecordedEnd(header: Int32Array, clientId: number): void {
  for (let entry = 0; entry < UNRECORDED_ENDS_MAX; entry++)
    if (Atomics.load(header, idWord(entry)) === clientId) {
      Atomics.store(header, idWord(entry), 0);
      Atomics.store(header, idWord(entry) + 1, 0);
    }
}

/** Empties the list: a start recorded the ends it held (or they were another state's). */
export function clearUnrecordedEnds(header: Int32Array): void {
  header.fill(0, FIRST_WORD, idWord(UNRECORDED_ENDS_MAX));
}

/** What `restoreUnrecordedEnds` found: the entries it cleared (ids forged for a client, or garbage) and the ids it listed again. */
export interface ListRepair {
  forged: number[];
  garbage: number;
  relisted: number[];
}

/**
 * Puts the list back as the arbiter of `epoch` wrote it, `listed` being the ids it listed. Any guest can
 * write these bytes: an entry the arbiter did not write would end a live session at the next start, so it
 * is cleared, and so is anything else there but zeros; an id of `listed` whose entry is gone is listed
 * again (false in `stillUnlisted` if there is no room).
 */
export function restoreUnrecordedEnds(
  header: Int32Array,
  epoch: number,
  listed: Iterable<number>,
): ListRepair & { stillUnlisted: number[] } {
  const expected = new Set(listed);
  const found = new Set<number>();
  const repair = {
    forged: [] as number[],
    garbage: 0,
    relisted: [] as number[],
    stillUnlisted: [] as number[],
  };
  for (let entry = 0; entry < UNRECORDED_ENDS_MAX; entry++) {
    if (Atomics.load(header, idWord(entry)) === 0 && Atomics.load(header, idWord(entry) + 1) === 0) continue;
    const clientId = listedAt(header, entry, epoch);
    if (expected.has(clientId) && !found.has(clientId)) {
      found.add(clientId);
      continue;
    }
    if (clientId > 0) repair.forged.push(clientId);
    else repair.garbage++;
    Atomics.store(header, idWord(entry), 0);
    Atomics.store(header, idWord(entry) + 1, 0);
  }
  for (const clientId of expected) {
    if (found.has(clientId)) continue;
    if (listUnrecordedEnd(header, epoch, clientId)) repair.relisted.push(clientId);
    else repair.stillUnlisted.push(clientId);
  }
  return repair;
}
