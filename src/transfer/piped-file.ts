/**
 * Under QEMU's TCG emulator a receiver writes its file through a pipe (src/ffi/splice.ts): each chunk is
 * copied from the ring into a private buffer and hashed in the same pass (ChannelReceiver.receive's
 * `bounce`), then vmspliced and spliced into the file, whose copy the kernel makes with 8-byte moves instead
 * of write(2)'s emulated byte-by-byte `rep movsb`. 64 MiB in a TCG guest: write(2) then digest 0.46–0.49 s,
 * copy + digest then the pipe 0.33–0.39 s (docs/bench/transfer-path.md, "A receiver's file through a pipe
 * under TCG"). Elsewhere the extra copy would cost more than it saves, and write(2) stays.
 * IVSH_RECV_SPLICE=1 or 0 turns it on or off whatever the CPU (tests, comparisons).
 */
import { nativeTcg } from "../ffi/native.ts";
import { PipeWriter } from "../ffi/splice.ts";
import type { Sink } from "./sink.ts";

/** The private buffer and the pipe: 1 MiB, the largest pipe an unprivileged process may ask for. */
const BOUNCE_BYTES = 1 << 20;

export interface PipedFile {
  readonly bounce: Uint8Array;
  close(): void;
}

/**
 * Routes `sink`'s writes through a pipe if it is a file this receiver made (FILE.partial: not a descriptor
 * it was given, which may be O_APPEND, where splice(2) refuses) and the CPU is TCG's; else undefined.
 */
export function pipeFileWrites(sink: Sink): PipedFile | undefined {
  const setting = process.env.IVSH_RECV_SPLICE;
  if (sink.type !== "file" || sink.writing === sink.target || setting === "0") return undefined;
  if (setting !== "1" && !nativeTcg()) return undefined;
  const pipe = new PipeWriter(BOUNCE_BYTES);
  sink.writeFile = (fd, address, length, what) => pipe.write(fd, address, length, what);
  return { bounce: new Uint8Array(BOUNCE_BYTES), close: () => pipe.close() };
}
