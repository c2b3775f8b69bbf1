/**
 * A regular file sent from a mapping of it: its bytes are copied from the file's pages
 * straight into the ring, hashed in the same pass, instead of read(2) into a private buffer and copied
 * again from there. One copy per byte instead of two: a 2 GiB file in /dev/shm sent to `recv --out
 * /dev/null`, whole processes, 486 → 384 ms (dd: 289 ms; docs/bench/transfer-path.md, "A mapped source").
 *
 * The digest is still taken from memory no guest can write (the sender's own mapping of its file), never
 * from the ring (./chunk-writer.ts). A file truncated while it is sent has its pages past the new end
 * fault (SIGBUS): the native copy survives that (src/ffi/native/fault.c) and the send fails with
 * SourceChanged, as a read would have found the file shorter. A last digest piece of 240 bytes or less,
 * and files too small to gain, go through read(2) as before; so does a file that cannot be mapped, and
 * one that reports holes or unwritten (fallocated) ranges (in tmpfs a mapping's read would fill them).
 */
import { isIvshError } from "../errors.ts";
import { mapShared, PROT_READ, unmap, viewOf } from "../ffi/index.ts";
import { firstHole } from "../ffi/seek.ts";
import { DIGEST_PIECE_BYTES } from "./digest.ts";
import type { Source } from "./io.ts";
import type { ChannelSender } from "./sender.ts";

/** Below this one read(2) into the private buffer does as well (the buffer is as large). */
const MAPPED_MIN_BYTES = 1 << 20;

/**
 * Mapped and unmapped about this much at a time, in whole steps: the process's page tables and RSS stay
 * small for any file (2 GiB mapped at once took 0.50 s against 0.40 s in 64 MiB windows).
 */
const WINDOW_BYTES = 64 << 20;

/**
 * Copied about this much at a time, in whole chunks, as the read path reads: between steps the event loop
 * may get its turn and an interrupt ends the send. Per window, Ctrl-C on a send from slow storage went
 * unheeded until the whole file had been sent (test/mapped-source-interrupted.test.ts).
 */
const STEP_BYTES = 1 << 20;

/**
 * Sends the file from a mapping as far as it can; returns how many bytes it sent (0 where mapping does not
 * apply: not a regular file of known size, too small, no native helper, or mmap refused). The source is
 * left at that offset for the read(2) path to go on. `afterStep` runs between steps (progress, yielding
 * to the event loop, throwing if the send was interrupted).
 */
export async function sendMapped(
  source: Source,
  sender: ChannelSender,
  afterStep: () => Promise<void>,
): Promise<number> {
  const bytes = mappableBytes(source, sender);
  const { chunkBytes } = sender.ring;
  const step = Math.max(1, Math.floor(STEP_BYTES / chunkBytes)) * chunkBytes;
  const window = Math.max(1, Math.floor(WINDOW_BYTES / step)) * step;
  let sent = 0;
  while (sent < bytes) {
    const length = Math.min(window, bytes - sent);
    const address = mapWindow(source, sent, length);
    if (address === undefined) break;
    try {
      const mapped = new Uint8Array(viewOf(address, length));
      for (let at = 0; at < length; at += step) {
        await sendStep(source, sender, mapped.subarray(at, Math.min(at + step, length)), sent + at);
        await afterStep();
      }
    } finally {
      unmap(address, length, source.name);
    }
    sent += length;
  }
  if (sent > 0) source.skipTo(sent);
  return sent;
}

/** One step's bytes, from `offset` of the file; its pages lost are said as what happened to the file. */
async function sendStep(source: Source, sender: ChannelSender, bytes: Uint8Array, offset: number) {
  try {
    await sender.writeFromFile(bytes);
  } catch (error) {
    throw isIvshError(error, "SourceChanged") ? source.pagesLost(offset) : error;
  }
}

/**
 * The bytes to map: windows of whole chunks fill every record they touch, except the stream's last; its
 * last digest piece, if 240 bytes or less, is left to read(2) (the native copy does not take it).
 */
function mappableBytes(source: Source, sender: ChannelSender): number {
  const { size } = source;
  if (source.type !== "file" || size === undefined || size < MAPPED_MIN_BYTES) return 0;
  if (!sender.digest.copiesFromFiles || holesFilledByMapping(source, size)) return 0;
  const lastPiece = (size % sender.ring.chunkBytes) % DIGEST_PIECE_BYTES;
  return lastPiece > 0 && lastPiece <= 240 ? size - lastPiece : size;
}

/**
 * A file with a hole or a range fallocated and not yet written, as the file itself reports (SEEK_HOLE),
 * whatever its file system says it is. In tmpfs (/dev/shm, often /tmp) a mapping's read of a hole gives
 * the file a page of memory, where read(2) reads zeros and gives none (a 64 MiB file holding 1 MiB went to
 * 64 MiB used); an unwritten range is cleared page by page as it is mapped (a fallocated 2 GiB file: 1.59 s
 * mapped, 0.50 s read). tmpfs reports both as holes. Not by the file system's name: overlayfs over tmpfs
 * (a container's /dev/shm-backed overlay) maps its tmpfs file, and statfs says overlayfs. A disk file
 * system's holes cost nothing either way: read(2) there is right too, if a little slower (ramfs reports no
 * holes; read(2) of one allocates as a mapping does). Where the file system will not say, read(2).
 */
function holesFilledByMapping(source: Source, size: number): boolean {
  const hole = firstHole(source.fd, source.name);
  return hole === undefined || hole < size;
}

/** The window's address, or undefined if the file cannot be mapped (its file system has no mmap). */
function mapWindow(source: Source, offset: number, length: number): number | undefined {
  try {
    return mapShared(source.fd, length, PROT_READ, source.name, offset);
  } catch {
    return undefined; // read(2) sends the rest, as it would have sent all of it
  }
}
