/**
 * The report's Fig. 1 "A Bare Bones Writer Loop" and Fig. 2 "A Bare Bones Reader Loop", ported line by
 * line onto ivsh's shm_* API, as functions: the scripts in examples/ run them under bun, and the
 * hidden `ivsh example fig1-writer|fig2-reader` command runs them from the compiled binary (a guest has
 * no bun). One shared area carries the transfer: byte 0 is the report's "data available" bool, the rest
 * the chunk.
 */
import { closeSync, fstatSync, ftruncateSync, openSync, readSync, writeSync } from "node:fs";
import { failure, isIvshError, reasonOf, throwIfAborted } from "../errors.ts";
import { shellWord } from "../units.ts";
import type { ConnectOptions } from "./client.ts";
import { ReaderOut } from "./report-out.ts";
import { PeerWatch } from "./report-presence.ts";
import type { Segment } from "./segment.ts";
import * as shm from "./shm.ts";
import type { LockOutcome, WaitResult } from "./sync.ts";

/** The report's area: a 1 MiB chunk plus the bool in front of it. */
export const DEFAULT_AREA_BYTES = 1048577;

export interface LoopOptions {
  connect?: ConnectOptions;
  /** Bytes of the shared area, bool included (the report's `size`). */
  size?: number;
  /**
   * Called once if the other end has not shown up within PEER_NOTICE_MS (the writer: no reader took its
   * first chunk; the reader: no writer made the area): started alone, either waited in silence for ever.
   */
  onPeerAwaited?: () => void;
  /**
   * Ends the loop with Interrupted once aborted (Ctrl-C), its session ended: the reader removes an OUT it
   * made (a half file, or an empty one, left behind), and its error says what became of one already there.
   */
  signal?: AbortSignal;
}

/** How long a loop waits for its peer before `onPeerAwaited`: a pair started together never hears it. */
export const PEER_NOTICE_MS = 2000;

/**
 * The flags of the other end's command line that reach the same arbiter and area, as given and quoted for a
 * shell: what `onPeerAwaited`'s notice tells a user to run (the CLI's and the example scripts' alike).
 */
export function sameAreaFlags(
  given: Partial<Record<"socket" | "region" | "connect" | "size", string>>,
): string {
  const shown = { ...given, size: given.size === String(DEFAULT_AREA_BYTES) ? undefined : given.size };
  return (["socket", "region", "connect", "size"] as const)
    .map((flag) => (shown[flag] === undefined ? "" : ` --${flag} ${shellWord(shown[flag])}`))
    .join("");
}

/** `tell` once, unless `seen()` by PEER_NOTICE_MS; the returned function ends that. */
function noticeUnless(seen: () => boolean, tell: (() => void) | undefined): () => void {
  if (!tell) return () => {};
  const timer = setTimeout(() => seen() || tell(), PEER_NOTICE_MS);
  return () => clearTimeout(timer);
}

export interface LoopResult {
  bytes: number;
  chunks: number;
}

/**
 * Fig. 1: sends FILE through the area, one chunk per hand-off. It streams: each chunk is read from the
 * file straight into the area (the report's loop copies from a buffer; the page cache is ours).
 */
export async function fig1Writer(file: string, options: LoopOptions = {}): Promise<LoopResult> {
  const fd = openSync(file, "r");
  try {
    return await writeFrom(fd, fstatSync(fd).size, options);
  } finally {
    closeSync(fd);
  }
}

/**
 * The area's size, checked: with under 2 bytes each hand-off moved no data, and the loops never ended (the
 * writer waited for ever on a reader that had counted Infinity chunks of 0 bytes).
 */
function areaBytes(options: LoopOptions, loop: string): number {
  const size = options.size ?? DEFAULT_AREA_BYTES;
  if (!Number.isSafeInteger(size) || size < 2)
    throw failure(
      "InvalidArgument",
      `run ${loop} with an area of ${size} bytes`,
      "the area needs its flag byte and at least one byte of data (a whole number of at least 2)",
    );
  return size;
}

async function writeFrom(fd: number, length: number, options: LoopOptions): Promise<LoopResult> {
  const size = areaBytes(options, "fig1-writer");
  const chunk = size - 1; // size - sizeof(bool)

  await shm.shm_init({ name: "fig1-writer", ...options.connect });
  const uid = shm.shm_uid();
  const cvid = await shm.shm_create_cv("fig1");
  // Hold the cv while the area is created and cleared, so the reader never sees it uninitialised.
  const first = await shm.shm_acquire_cv(cvid, uid);
  let area: Segment;
  let published: Segment | undefined;
  try {
    published = await publishLength(length);
    area = await shm.shm_alloc(size, "write", "fig1").catch(async (error: unknown) => {
      if (!published || !noRoom(error)) throw error;
      // Room for the area alone (a quota or region it fills): sent unpublished, as by an older writer.
      await shm.shm_dealloc(published);
      published = undefined;
      return await shm.shm_alloc(size, "write", "fig1");
    });
  } catch (error) {
    if (published) await shm.shm_dealloc(published).catch(() => undefined);
    // Refused (another writer's area, a full region): let go first, or our exit marks the lock owner-died
    // and the running pair takes that for its peer's death. Unless we took an owner-died: with the area in
    // use it is the running pair's (told once), so we keep the lock and our exit passes it on.
    if (first !== "owner-died") shm.shm_release_cv(cvid, uid);
    throw error;
  }
  const offset = area.bytes;
  offset[0] = 0;
  const watch = await PeerWatch.start(cvid, uid, area.id, "writer", "reader");
  shm.shm_release_cv(cvid, uid);

  const reader = { seen: false };
  const stopNotice = noticeUnless(() => reader.seen, options.onPeerAwaited);
  try {
    const sending = () => sendChunks(fd, length, chunk, area, cvid, uid, watch, reader);
    return await watch.guard(sending, options.signal, "send the file");
  } finally {
    stopNotice();
  }
}

/** The writer's loop proper, its area made and cleared, its peer watched. */
async function sendChunks(
  fd: number,
  length: number,
  chunk: number,
  area: Segment,
  cvid: number,
  uid: number,
  watch: PeerWatch,
  reader: { seen: boolean },
): Promise<LoopResult> {
  const offset = area.bytes;
  const to_transfer = handOffs(length, chunk);
  // Said before each wait for the reader, if it left (killed, or told fewer bytes than the file's).
  const left = (taken: number) => () =>
    `the reader left having taken ${taken} of the ${to_transfer} chunks (it was killed, or given a BYTES under the file's ${length}): run both again, giving the reader the file's size`;
  let i = 0;
  while (i < to_transfer) {
    // Check shared variable
    peerAlive(await shm.shm_acquire_cv(cvid, uid), "send the file", "reader");
    watch.throwIfInterrupted();
    if (!offset[0]) {
      reader.seen ||= i > 0; // it took a chunk
      // Data not available, write here
      readFully(fd, offset.subarray(1, 1 + Math.min(chunk, length - i * chunk)), i * chunk);
      ++i;
      offset[0] = 1;
      // Notify the reader
      shm.shm_notify_cv(cvid, uid);
    } else {
      // Wait for the reader
      watch.throwIfGone("send the file", left(i - 1));
      peerAlive(await shm.shm_wait_cv(cvid, uid), "send the file", "reader");
    }
    shm.shm_release_cv(cvid, uid);
  }

  // Let the reader take the last chunk before the area goes away.
  peerAlive(await shm.shm_acquire_cv(cvid, uid), "send the file", "reader");
  while (offset[0]) {
    watch.throwIfGone("send the file", left(to_transfer - 1));
    peerAlive(await shm.shm_wait_cv(cvid, uid), "send the file", "reader");
  }
  reader.seen = true;
  shm.shm_release_cv(cvid, uid);
  watch.stop();
  await shm.shm_dealloc(area);
  await shm.shm_finish();
  return { bytes: length, chunks: to_transfer };
}

/**
 * How many chunks carry `bytes`: at least one, empty for an empty file. With none, the writer freed its
 * area as soon as it had made it, and a reader not looking at that moment waited for ever for it.
 */
function handOffs(bytes: number, chunk: number): number {
  return Math.max(1, Math.ceil(bytes / chunk));
}

/**
 * "owner-died" from the area's lock: the other end died holding it, and will never hand a chunk over
 * again (ignored, the loop waited for ever for it). The writer's first acquire takes any older verdict.
 */
function peerAlive(outcome: LockOutcome | WaitResult, action: string, peer: string): void {
  if (outcome === "owner-died")
    throw failure(
      "PeerGone",
      action,
      `the ${peer} died holding the area's lock, mid hand-off (the chunk it was moving may be lost): run both again`,
    );
}

/** Fills `target` from the file at `position` (a short read before the end means the file shrank). */
function readFully(fd: number, target: Uint8Array, position: number): void {
  for (let done = 0; done < target.byteLength; ) {
    const got = readSync(fd, target, done, target.byteLength - done, position + done);
    if (got === 0)
      throw failure(
        "SourceChanged",
        "send the file",
        `it ended ${position + done} bytes in, before the size it had`,
      );
    done += got;
  }
}

/** Fig. 2: receives `total` bytes from fig1Writer into OUT, writing each chunk out straight from the area. */
export async function fig2Reader(out: string, total: number, options: LoopOptions = {}): Promise<LoopResult> {
  const size = areaBytes(options, "fig2-reader");
  // Below 0 (or not a number) the loop ran no time and "received" it at once, while the writer waited.
  if (!Number.isSafeInteger(total) || total < 0)
    throw failure(
      "InvalidArgument",
      `receive ${total} bytes`,
      "the byte count must be a whole number of at least 0 (what the writer sends)",
    );
  // Opened (so a directory or permission that bars it fails here, at once), but emptied only once the
  // writer's area is ours: a reader refused its arguments, the arbiter or the area leaves OUT as it was,
  // and one it made removed if it failed before writing to it, or was interrupted (./report-out.ts).
  const target = ReaderOut.open(out);
  try {
    return await readInto(target, total, size, options);
  } catch (error) {
    if (!(options.signal?.aborted && isIvshError(error, "Interrupted"))) {
      target.removeUnwritten();
      throw error;
    }
    throw failure(
      "Interrupted",
      "receive the file",
      `${reasonOf(error)}: ${target.removeInterrupted(total)}`,
    );
  } finally {
    target.close();
  }
}

async function readInto(target: ReaderOut, total: number, size: number, options: LoopOptions) {
  const { fd } = target;
  const chunk = size - 1;

  await shm.shm_init({ name: "fig2-reader", ...options.connect });
  const uid = shm.shm_uid();
  const cvid = await shm.shm_create_cv("fig1");
  const awaited = openWhenCreated("fig1", options.signal);
  const area = await awaited.finally(noticeUnless(() => false, options.onPeerAwaited));
  // Counted in chunks of another size, each hand-off lost part of its chunk, or the count was off.
  if (area.byteLength !== size)
    throw failure(
      "InvalidArgument",
      `receive through the writer's area with a size of ${size} bytes`,
      `the writer made the area ${area.byteLength} bytes: give both ends the same size (--size)`,
    );
  await refuseOtherLength(total);
  throwIfAborted(options.signal, "receive the file"); // OUT as it was: interrupted before it was emptied
  // What "w" did at the open (a device or pipe has no size).
  if (fstatSync(fd).isFile()) {
    ftruncateSync(fd, 0);
    target.emptied = true;
  }
  const watch = await PeerWatch.start(cvid, uid, area.id, "reader", "writer");

  const taking = () => takeChunks(fd, total, chunk, area, cvid, uid, watch);
  return await watch.guard(taking, options.signal, "receive the file");
}

/** The reader's loop proper, the writer's area open, its peer watched. */
async function takeChunks(
  fd: number,
  total: number,
  chunk: number,
  area: Segment,
  cvid: number,
  uid: number,
  watch: PeerWatch,
): Promise<LoopResult> {
  const offset = area.bytes;
  const to_transfer = handOffs(total, chunk);
  let i = 0;
  // Said before each wait for the writer, if it left (killed, or done sending a file under BYTES).
  const left = () =>
    `the writer left after ${i} of the ${to_transfer} chunks of the ${total} bytes this reader was told: it was killed, or its file is shorter than BYTES; run both again, giving the reader the file's size`;
  while (i < to_transfer) {
    // Check shared variable
    peerAlive(await shm.shm_acquire_cv(cvid, uid), "receive the file", "writer");
    watch.throwIfInterrupted(); // nothing more is written to OUT: it goes
    if (offset[0]) {
      // Data available, read here
      const length = Math.min(chunk, total - i * chunk);
      writeFully(fd, offset.subarray(1, 1 + length));
      ++i;
      offset[0] = 0;
      // Notify the writer
      shm.shm_notify_cv(cvid, uid);
    } else {
      // Wait for the writer
      watch.throwIfGone("receive the file", left);
      peerAlive(await shm.shm_wait_cv(cvid, uid), "receive the file", "writer");
    }
    shm.shm_release_cv(cvid, uid);
  }

  watch.stop();
  await shm.shm_dealloc(area);
  await shm.shm_finish();
  return { bytes: total, chunks: to_transfer };
}

function writeFully(fd: number, source: Uint8Array): void {
  for (let done = 0; done < source.byteLength; )
    done += writeSync(fd, source, done, source.byteLength - done);
}

/** The writer creates the area; the reader may start first and waits for it (until `signal` aborts). */
async function openWhenCreated(name: string, signal: AbortSignal | undefined): Promise<Segment> {
  for (;;) {
    throwIfAborted(signal, "receive the file");
    try {
      return await shm.shm_open(name, "write");
    } catch (error) {
      if (!isIvshError(error, "NotFound")) throw error;
      await Bun.sleep(10);
    }
  }
}

/**
 * The flag byte carries no length: a reader told another byte count in as many chunks wrote its own (the
 * file cut short, or its last chunk padded with the chunk before's bytes) and said it received them. So
 * the writer publishes its file's length under LENGTH_NAME, made before the area (a reader that finds the
 * area finds it), and the reader compares before it touches OUT. The flag-byte loop is unchanged. With
 * no block for it beside the area (a quota or region the area fills), the area goes unpublished.
 */
const LENGTH_NAME = "fig1.length";

/** Whether an allocation was refused for want of blocks (the region's or a quota's). */
function noRoom(error: unknown): boolean {
  return isIvshError(error, "NoSpace") || isIvshError(error, "QuotaExceeded");
}

/** The length's segment; undefined, the length unpublished, if there is no block for it (nor the area). */
async function publishLength(length: number): Promise<Segment | undefined> {
  const published = await shm.shm_alloc(8, "write", LENGTH_NAME).catch((error: unknown) => {
    if (noRoom(error)) return undefined;
    throw error;
  });
  if (!published) return undefined;
  new DataView(published.bytes.buffer, published.bytes.byteOffset, 8).setBigUint64(0, BigInt(length), true);
  return published;
}

/** Refuses `total` if the writer published another length; a writer that published none is taken at its word. */
async function refuseOtherLength(total: number): Promise<void> {
  let published: Segment;
  try {
    published = await shm.shm_open(LENGTH_NAME, "read");
  } catch (error) {
    if (isIvshError(error, "NotFound")) return;
    throw error;
  }
  const bytes = published.bytes;
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  await shm.shm_dealloc(published);
  if (length !== total)
    throw failure(
      "InvalidArgument",
      `receive ${total} bytes`,
      `the writer sends ${length} bytes, not the ${total} this reader was told: give the reader the file's size (BYTES)`,
    );
}
