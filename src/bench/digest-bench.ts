/** Is the digest the bottleneck? A sender's work per byte, by parts, as two passes or the native one. */
import { nativeHash, nativeStatus } from "../ffi/native.ts";
import { StreamDigest } from "../transfer/digest.ts";
import { MiB } from "./memory.ts";
import { type BenchResult, row, type Section } from "./report.ts";

const SOURCE_BYTES = MiB;
const RING_BYTES = 8 * MiB;
/** Enough bytes per sample that one lasts tens of milliseconds at in-cache speeds. */
const SAMPLE_BYTES = 512 * MiB;

export type DigestMethod = "copy" | "hash" | "hashNative" | "twoPasses" | "onePass";

export interface DigestSamples {
  /** nativeStatus().detail of the measuring process. */
  readonly path: string;
  /** Bytes per second, one sample per round; empty for the native rows without the helper. */
  readonly rates: Record<DigestMethod, number[]>;
}

const LABELS: Record<DigestMethod, string> = {
  copy: "copy alone (TypedArray.set into the ring)",
  hash: "digest alone, Bun.hash.xxHash3",
  hashNative: "digest alone, native helper",
  twoPasses: "copy, then digest (two passes: the portable path)",
  onePass: "copy and digest in one pass (native helper)",
};

export function emptyDigestSamples(): DigestSamples {
  return {
    path: nativeStatus().detail,
    rates: { copy: [], hash: [], hashNative: [], twoPasses: [], onePass: [] },
  };
}

export function measureDigestRound(samples: DigestSamples): void {
  const source = new Uint8Array(SOURCE_BYTES);
  for (let index = 0; index < source.length; index++) source[index] = (index * 2654435761) >>> 24;
  const ring = new Uint8Array(RING_BYTES).fill(1);
  const slot = (turn: number) =>
    ring.subarray((turn * SOURCE_BYTES) % RING_BYTES, ((turn * SOURCE_BYTES) % RING_BYTES) + SOURCE_BYTES);
  const methods: Record<DigestMethod, ((turn: number) => void) | undefined> = {
    copy: (turn) => slot(turn).set(source),
    hash: portableDigest((digest) => digest.update(source)),
    hashNative: nativeDigest((digest) => digest.update(source)),
    twoPasses: portableDigest((digest, turn) => {
      const target = slot(turn);
      target.set(source);
      digest.update(target);
    }),
    onePass: nativeDigest((digest, turn) => digest.copyAndUpdate(slot(turn), source)),
  };
  for (const method of Object.keys(methods) as DigestMethod[]) {
    const run = methods[method];
    if (run) samples.rates[method].push(rateOf(run));
  }
}

function portableDigest(step: (digest: StreamDigest, turn: number) => void) {
  const digest = new StreamDigest({ portable: true });
  return (turn: number) => step(digest, turn);
}

function nativeDigest(step: (digest: StreamDigest, turn: number) => void) {
  if (!nativeHash()) return undefined;
  const digest = new StreamDigest();
  return (turn: number) => step(digest, turn);
}

function rateOf(run: (turn: number) => void): number {
  const turns = SAMPLE_BYTES / SOURCE_BYTES;
  // Untimed laps settle the ring's first-touch faults and the first calls' lazy costs.
  for (let turn = 0; turn < RING_BYTES / SOURCE_BYTES; turn++) run(turn);
  const started = Bun.nanoseconds();
  for (let turn = 0; turn < turns; turn++) run(turn);
  return SAMPLE_BYTES / ((Bun.nanoseconds() - started) / 1e9);
}

export function digestSection(samples: DigestSamples): Section {
  const results: BenchResult[] = (Object.keys(LABELS) as DigestMethod[]).map((method) => {
    const values = samples.rates[method];
    if (values.length === 0)
      return { id: `digest.${method}`, label: LABELS[method], unit: "bytes/s", note: samples.path };
    return row(`digest.${method}`, LABELS[method], "bytes/s", values);
  });
  const { onePass, twoPasses } = samples.rates;
  const gains = onePass.map((rate, round) => rate / twoPasses[round]!).filter(Number.isFinite);
  if (gains.length > 0) results.push(row("digest.gain", "one pass ÷ two passes, per round", "ratio", gains));
  return {
    id: "digest",
    title: "The digest: a sender's work per byte, on one core",
    about:
      "1 MiB at a time from an in-cache source into an 8 MiB ring (the channel's default), in one process. " +
      "A sender must copy every byte and add it to the XXH3 digest: the last two rows are that work done as " +
      "two passes and as one; the first three, its parts. " +
      `Digest path of this run's channels: ${samples.path}.`,
    results,
  };
}
