/**
 * The sender's data pass over a file, alone (no receiver): read(2) a chunk into shared memory and then
 * hash it, as `ivsh guest send FILE` does, against reading and hashing in smaller steps while the data is
 * in the core's cache, and against mapping the file and copying + hashing in one pass (the native
 * helper). Best of RUNS, GB/s.
 *
 *   head -c 2G /dev/urandom > /dev/shm/f; bun scripts/experiments/send-pass.ts /dev/shm/f [RUNS=3]
 */
import { closeSync, openSync, statSync } from "node:fs";
import { mapAnonymous, mapShared, PROT_READ, populate, readInto } from "../../src/ffi/index.ts";
import { nativeHash } from "../../src/ffi/native.ts";

const path = process.argv[2] ?? "/dev/shm/f";
const runs = Number(process.argv[3] ?? 3);
const size = statSync(path).size;
const CHUNK = 1 << 20;
const PIECE = 64 * 1024;
const native = nativeHash();
if (!native) throw new Error("no native helper (npm run build:native)");
const state = new BigUint64Array(1);
const stateAddress = Number(require("bun:ffi").ptr(state));
const ring = mapAnonymous(8 * CHUNK);

function readThenHash(step: number): void {
  const fd = openSync(path, "r");
  let chunkIndex = 0;
  for (let at = 0; at < size; at += CHUNK) {
    const chunk = ring + (chunkIndex++ % 8) * CHUNK;
    for (let done = 0; done < CHUNK; done += step) {
      const got = readInto(fd, chunk + done, step, path);
      if (got <= 0) break;
      native!.digestPieces(null, chunk + done, got, PIECE, stateAddress);
    }
  }
  closeSync(fd);
}

function mapCopyHash(populateBytes = 0): void {
  const fd = openSync(path, "r");
  const source = mapShared(fd, size, PROT_READ, path);
  let chunkIndex = 0;
  for (let at = 0; at < size; at += CHUNK) {
    const chunk = ring + (chunkIndex++ % 8) * CHUNK;
    if (populateBytes > 0 && at % populateBytes === 0)
      populate(source + at, Math.min(populateBytes, size - at), false, path);
    native!.digestPieces(chunk, source + at, Math.min(CHUNK, size - at), PIECE, stateAddress);
  }
  require("../../src/ffi/index.ts").unmap(source, size, path);
  closeSync(fd);
}

function best(label: string, pass: () => void): void {
  let seconds = Infinity;
  for (let run = 0; run < runs; run++) {
    const started = performance.now();
    pass();
    seconds = Math.min(seconds, (performance.now() - started) / 1000);
  }
  console.log(`${label.padEnd(44)} ${seconds.toFixed(3)} s  ${(size / seconds / 1e9).toFixed(1)} GB/s`);
}

best("read 1 MiB, then hash it (today)", () => readThenHash(CHUNK));
best("read 256 KiB, hash it, ...", () => readThenHash(256 * 1024));
best("read 64 KiB, hash it, ...", () => readThenHash(64 * 1024));
best("map the file, copy + hash in one pass", () => mapCopyHash());
best("the same, MADV_POPULATE_READ per 1 MiB", () => mapCopyHash(CHUNK));
best("the same, MADV_POPULATE_READ per 16 MiB", () => mapCopyHash(16 * CHUNK));
