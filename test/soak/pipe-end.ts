/**
 * The far ends of a pipeline, as separate processes the soak can kill or freeze:
 *   producer FILE PACE SEED   writes FILE to stdout in pieces of random size (PACE slow: pauses between);
 *   consumer FILE PACE SEED   copies stdin into FILE (PACE slow: pauses between reads).
 * Plain blocking I/O: like `cat`, a pipe end does nothing else. Exits 0 at the end of its input.
 */
import { closeSync, openSync, readFileSync, readSync, writeSync } from "node:fs";
import { Prng } from "../helpers/prng.ts";

const [role, path, pace, seed] = process.argv.slice(2);
const random = new Prng(Number(seed ?? 1));
const MAX_PIECE = 256 << 10;

function pause(): void {
  if (pace === "slow") Bun.sleepSync(random.range(0, 8));
}

function produce(file: string): void {
  const data = new Uint8Array(readFileSync(file));
  for (let at = 0; at < data.byteLength; ) {
    const end = Math.min(data.byteLength, at + random.range(1, MAX_PIECE));
    for (let done = at; done < end; ) done += writeSync(1, data, done, end - done);
    at = end;
    pause();
  }
}

function consume(file: string): void {
  const out = openSync(file, "w");
  const buffer = new Uint8Array(MAX_PIECE);
  for (;;) {
    const got = readSync(0, buffer, 0, random.range(1, MAX_PIECE), null);
    if (got === 0) break;
    for (let done = 0; done < got; ) done += writeSync(out, buffer, done, got - done);
    pause();
  }
  closeSync(out);
}

if (role === "producer" && path) produce(path);
else if (role === "consumer" && path) consume(path);
else {
  console.error("usage: pipe-end.ts producer|consumer FILE fast|slow SEED");
  process.exit(2);
}
