/**
 * Writing, reading and checking the header page of a mapped region, by the offsets and rules that
 * ./layout.ts defines. The version word is written last and read first, so a reader that finds it finds
 * every other field complete (docs/layout.md, sections 2 and 7).
 */
import { failure } from "../errors.ts";
import {
  computeGeometry,
  type Geometry,
  Header,
  type HeaderFields,
  LAYOUT_MAGIC,
  LAYOUT_VERSION,
  PAGE_SIZE,
  sameGeometry,
} from "./layout.ts";

/**
 * Writes a fresh header. The version word is cleared first and written last with a release store, so a
 * process that sees LAYOUT_VERSION also sees every other field (x86 keeps stores in order; Atomics.store
 * also stops the JIT from reordering).
 */
export function writeHeader(sync: Int32Array, fields: HeaderFields): void {
  const view = new DataView(sync.buffer, sync.byteOffset, PAGE_SIZE);
  invalidateHeader(sync);
  view.setUint32(Header.magic, LAYOUT_MAGIC, true);
  view.setUint32(Header.headerBytes, PAGE_SIZE, true);
  view.setUint32(Header.blockSize, fields.blockSize, true);
  view.setUint32(Header.blockCount, fields.blockCount, true);
  view.setUint32(Header.slotCount, fields.slotCount, true);
  view.setUint32(Header.slotOffset, fields.slotOffset, true);
  view.setUint32(Header.dataOffset, fields.dataOffset, true);
  view.setBigUint64(Header.regionSize, BigInt(fields.regionSize), true);
  view.setUint32(Header.epoch, fields.epoch, true);
  view.setUint32(Header.arbiterPid, fields.arbiterPid, true);
  view.setBigUint64(Header.arbiterInstance, BigInt(fields.arbiterInstance), true);
  Atomics.store(sync, Header.layoutVersion >> 2, LAYOUT_VERSION);
}

/** Clears the version word: from here until writeHeader finishes, readers refuse the region. */
export function invalidateHeader(sync: Int32Array): void {
  Atomics.store(sync, Header.layoutVersion >> 2, 0);
}

export function readEpoch(sync: Int32Array): number {
  return Atomics.load(sync, Header.epoch >> 2) >>> 0;
}

/** Reads and validates the header of a mapped region of `mappedSize` bytes. */
export function readHeader(sync: Int32Array, mappedSize: number, where: string): HeaderFields {
  const action = `use the region at ${where}`;
  const view = new DataView(sync.buffer, sync.byteOffset, PAGE_SIZE);
  // Acquire load: the version is written last, so seeing it makes the rest of the header valid to read.
  const version = Atomics.load(sync, Header.layoutVersion >> 2);
  if (view.getUint32(Header.magic, true) !== LAYOUT_MAGIC)
    throw failure(
      "RegionInvalid",
      action,
      "it holds no ivsh header (its first bytes are not the ivsh magic)",
    );
  if (version === 0)
    throw failure("RegionInvalid", action, "its header is half written (an arbiter is formatting it; retry)");
  if (version !== LAYOUT_VERSION)
    throw failure(
      "RegionInvalid",
      action,
      `its layout version is ${version}, this ivsh reads ${LAYOUT_VERSION}`,
    );
  const fields: HeaderFields = {
    regionSize: Number(view.getBigUint64(Header.regionSize, true)),
    blockSize: view.getUint32(Header.blockSize, true),
    blockCount: view.getUint32(Header.blockCount, true),
    slotCount: view.getUint32(Header.slotCount, true),
    slotOffset: view.getUint32(Header.slotOffset, true),
    dataOffset: view.getUint32(Header.dataOffset, true),
    epoch: view.getUint32(Header.epoch, true),
    arbiterPid: view.getUint32(Header.arbiterPid, true),
    arbiterInstance: Number(view.getBigUint64(Header.arbiterInstance, true)),
  };
  let expected: Geometry;
  try {
    expected = computeGeometry(fields.regionSize, fields.blockSize, fields.slotCount);
  } catch (error) {
    throw failure(
      "RegionInvalid",
      action,
      `its header describes no possible region (${(error as Error).message})`,
    );
  }
  if (!sameGeometry(expected, fields) || view.getUint32(Header.headerBytes, true) !== PAGE_SIZE)
    throw failure("RegionInvalid", action, "its header fields contradict each other (corrupted?)");
  if (fields.regionSize > mappedSize)
    throw failure(
      "RegionInvalid",
      action,
      `its header says ${fields.regionSize} bytes but only ${mappedSize} are mapped`,
    );
  return fields;
}

/**
 * The header fields whose value differs from what the arbiter wrote (`fields`): empty when the header is
 * intact. The probe area is scratch space anyone may write, so it is not compared.
 */
export function headerDifferences(sync: Int32Array, fields: HeaderFields): string[] {
  const view = new DataView(sync.buffer, sync.byteOffset, PAGE_SIZE);
  const expected: Record<string, number> = {
    magic: LAYOUT_MAGIC,
    layoutVersion: LAYOUT_VERSION,
    headerBytes: PAGE_SIZE,
    blockSize: fields.blockSize,
    blockCount: fields.blockCount,
    slotCount: fields.slotCount,
    slotOffset: fields.slotOffset,
    dataOffset: fields.dataOffset,
    epoch: fields.epoch,
    arbiterPid: fields.arbiterPid,
  };
  const differing = Object.entries(expected)
    .filter(([name, value]) => view.getUint32(Header[name as keyof typeof Header], true) !== value >>> 0)
    .map(([name]) => name);
  if (view.getBigUint64(Header.regionSize, true) !== BigInt(fields.regionSize)) differing.push("regionSize");
  if (view.getBigUint64(Header.arbiterInstance, true) !== BigInt(fields.arbiterInstance))
    differing.push("arbiterInstance");
  return differing;
}

/** Ties greetedUpTo to the epoch that wrote it ("GRET"), as the unrecorded ends are (../host/unrecorded-ends.ts). */
const GREETED_TAG = 0x54455247;
const greetedCheck = (clientId: number, epoch: number) => (clientId ^ GREETED_TAG ^ epoch) | 0;

/**
 * Raises the header's greetedUpTo to `clientId`, before hello's reply goes out: the client then finds at
 * least its own id there, in a mapping that sees this arbiter's writes. Never lowered within an epoch (a
 * resumed session's id is older than others'); the arbiter alone writes it, one request at a time.
 */
export function noteGreeted(sync: Int32Array, clientId: number, epoch: number): void {
  if ((greetedUpTo(sync, epoch) ?? 0) >= clientId) return;
  // A reader between the two stores sees words that disagree: none said, never a refusal.
  Atomics.store(sync, Header.greetedCheck >> 2, greetedCheck(clientId, epoch));
  Atomics.store(sync, Header.greetedUpTo >> 2, clientId);
}

/**
 * The header's greetedUpTo as the arbiter of `epoch` wrote it; undefined (none said) when another start
 * wrote it (an older arbiter does not, but its state goes on giving higher ids), or a guest overwrote
 * either word.
 */
export function greetedUpTo(sync: Int32Array, epoch: number): number | undefined {
  const greeted = Atomics.load(sync, Header.greetedUpTo >> 2);
  if (Atomics.load(sync, Header.greetedCheck >> 2) !== greetedCheck(greeted, epoch)) return undefined;
  return greeted >>> 0;
}

/**
 * An arbiter's start says it has greeted none yet: a mapping that stopped seeing its writes before its
 * first hello (a guest's header page copied at its first write, QEMU's share=off) then reads 0, below any
 * client's id, where without it the words said nothing and every client of such a guest passed.
 */
export function startGreeting(sync: Int32Array, epoch: number): void {
  Atomics.store(sync, Header.greetedUpTo >> 2, 0);
  Atomics.store(sync, Header.greetedCheck >> 2, greetedCheck(0, epoch));
}

/**
 * One store to the header page's scratch area, before the client's hello: a mapping that copies a page on its
 * first write (QEMU's memory-backend-file without share=on, under a guest's BAR) then holds a header page
 * of its own, so greetedUpTo, written after, is not seen and the client is refused; untouched, such a page
 * went on showing the arbiter's writes and the check passed, where the data written later reached nobody.
 */
export function touchScratch(sync: Int32Array): void {
  Atomics.store(sync, Header.probeArea >> 2, 0);
}
