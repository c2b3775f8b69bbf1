/**
 * The demo's yardstick: the same file copied over a Unix socket between two processes, the way a
 * program without ivsh would do it (read 1 MiB, write it to the socket; read from the socket, write to
 * the output file), using Bun's sockets.
 */
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { failure } from "../errors.ts";

const CHUNK = 1 << 20;

export interface CopyResult {
  bytes: number;
  seconds: number;
  /** CRC-32 of everything received (a streaming checksum: chunk boundaries do not change it). */
  crc32: number;
}

/** Accepts one connection on `socketPath` and writes everything it receives to `output`. */
export async function receiveOverSocket(
  socketPath: string,
  output: string,
  onListening: () => void,
): Promise<CopyResult> {
  const fd = openSync(output, "w");
  const done = Promise.withResolvers<CopyResult>();
  let bytes = 0;
  let crc32 = 0;
  let started = 0;
  const listener = Bun.listen({
    unix: socketPath,
    socket: {
      open() {
        started = performance.now();
      },
      data(_socket, chunk) {
        writeSync(fd, chunk);
        crc32 = Bun.hash.crc32(chunk, crc32);
        bytes += chunk.byteLength;
      },
      close() {
        done.resolve({ bytes, seconds: (performance.now() - started) / 1000, crc32 });
      },
    },
  });
  onListening();
  try {
    return await done.promise;
  } finally {
    listener.stop(true);
    closeSync(fd);
  }
}

/** Connects to `socketPath` and streams `input` into it, honouring backpressure. */
export async function sendOverSocket(socketPath: string, input: string): Promise<number> {
  const fd = openSync(input, "r");
  const buffer = new Uint8Array(CHUNK);
  let pending = new Uint8Array(0);
  let total = 0;
  const finished = Promise.withResolvers<void>();
  const pump = (socket: { write(data: Uint8Array): number; end(): void }) => {
    for (;;) {
      if (pending.byteLength === 0) {
        const got = readSync(fd, buffer, 0, CHUNK, null);
        if (got === 0) {
          socket.end();
          return finished.resolve();
        }
        pending = buffer.subarray(0, got);
        total += got;
      }
      const wrote = socket.write(pending);
      if (wrote < 0)
        return finished.reject(failure("ConnectionLost", "copy over the socket", "the receiver closed"));
      pending = pending.subarray(wrote);
      if (pending.byteLength > 0) return; // the kernel buffer is full: continue on drain
    }
  };
  await Bun.connect({ unix: socketPath, socket: { open: pump, drain: pump, data() {} } });
  try {
    await finished.promise;
    return total;
  } finally {
    closeSync(fd);
  }
}
