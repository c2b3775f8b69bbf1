/** The raw samples as rows, a section per figure; fractions of memcpy and ratios computed per round. */
import { formatBlockSize, formatBytes } from "../units.ts";
import { REPORT_BLOCK, REPORT_BYTES, REPORT_LOCK_PAIRS } from "./plan.ts";
import { type BenchResult, row, type Section } from "./report.ts";
import { summarize, summaryOf } from "./stats.ts";
import { STREAM_BASELINES } from "./stream.ts";
import type { AccessSamples, SuiteData, SweepPoint, TransferSamples } from "./suite-data.ts";

export const MEMCPY_ID = "memcpy.large";

/** value_i / reference_i for each round both have. */
export function perRound(values: readonly number[], references: readonly number[]): number[] {
  const rounds = Math.min(values.length, references.length);
  return Array.from({ length: rounds }, (_, round) => values[round]! / references[round]!);
}

export function rates(samples: { bytes: number; seconds: readonly number[] }): number[] {
  return samples.seconds.map((seconds) => samples.bytes / seconds);
}

/** A throughput row, shown also as its fraction of memcpy within each round. */
function rateResult(id: string, label: string, values: number[], memcpy: number[], note?: string) {
  return row(id, label, "bytes/s", values, note, { to: MEMCPY_ID, perRound: perRound(values, memcpy) });
}

export function limitSection(data: SuiteData): Section {
  const inCache = data.memcpyInCache;
  return {
    id: "limit",
    title: "The limit: single-core memcpy",
    about:
      "libc memcpy between two 256 MiB anonymous buffers on one core (through DRAM), one sample per round " +
      "(median of 3 copies), taken in the same rounds as the transfers. Every transfer needs at least one " +
      "copy per byte, so this is the reference every throughput below is shown as a fraction of.",
    results: [
      row(MEMCPY_ID, "memcpy 256 MiB", "bytes/s", data.memcpyRates),
      {
        id: "memcpy.cache",
        label: `memcpy ${formatBlockSize(inCache.bytes)} (in cache)`,
        unit: "bytes/s",
        samples: inCache.rate,
        note: "the ceiling for data that stays in cache, as a small ring's does",
      },
    ],
  };
}

function transferResult(id: string, samples: TransferSamples, memcpy: number[]): BenchResult {
  if (samples.unavailable)
    return { id: `transfer.${id}`, label: samples.label, unit: "bytes/s", note: samples.unavailable };
  const note = `median ${(summarize(samples.seconds).median).toPrecision(3)} s for ${formatBytes(samples.bytes)}`;
  // Its round i is not the suite's round i: no per-round pairing, the medians are compared.
  if (samples.ownRounds)
    return row(`transfer.${id}`, samples.label, "bytes/s", rates(samples), note, { to: MEMCPY_ID });
  return rateResult(`transfer.${id}`, samples.label, rates(samples), memcpy, note);
}

export function ivshVersus(data: SuiteData, baseline: string): number[] {
  const ivsh = data.transfers.ivsh;
  const other = data.transfers[baseline];
  if (!ivsh || !other || other.unavailable) return [];
  return perRound(rates(ivsh), rates(other));
}

export function transferSection(data: SuiteData): Section {
  const memcpy = data.memcpyRates;
  const results = Object.entries(data.transfers).map(([id, samples]) => transferResult(id, samples, memcpy));
  for (const socket of STREAM_BASELINES) {
    const label = data.transfers[socket]?.label ?? socket;
    results.push(row(`ratio.ivsh-${socket}`, `ivsh ÷ ${label}`, "ratio", ivshVersus(data, socket)));
  }
  const toMemcpy = perRound(rates(data.transfers.ivsh!), memcpy);
  results.push(row("ratio.ivsh-memcpy", "ivsh ÷ memcpy", "fraction", toMemcpy));
  const { plan } = data;
  return {
    id: "fig3b",
    title: `Fig. 3b: ${formatBytes(plan.bytes)} between two processes, by method`,
    about:
      `Separate sender and receiver processes; senders copy from one in-memory 1 MiB pattern (socat reads ` +
      `/dev/zero). Every method is timed by its receiver from the start of the stream to its end: for sockets ` +
      "from accept to end of stream, for ivsh from attaching to the transfer to holding the verified end " +
      `record (${formatBlockSize(plan.streamChunk)} chunks, ring depth ${plan.depth}); "incl. channel setup" is ` +
      "the same ivsh transfer timed from the sender opening the channel, before its ring is allocated. " +
      "Ratios are computed within each round.",
    results,
  };
}

/** The waits and wakes a transfer sent, per round: the synchronisation that went through the arbiter. */
export function syncRequests(point: SweepPoint): number[] {
  return point.requests.map((round) => (round.wait ?? 0) + (round.wake ?? 0));
}

export function reportPoint(data: SuiteData): SweepPoint | undefined {
  return data.sweep.find((candidate) => candidate.block === REPORT_BLOCK);
}

export function sweepSection(data: SuiteData): Section {
  const { plan } = data;
  const results = data.sweep.map((point) => {
    const values = rates({ bytes: plan.bytes, seconds: point.seconds });
    const seconds = summarize(point.seconds).median.toPrecision(3);
    const ring = formatBlockSize(point.block * plan.depth);
    const sync = point.requests.length === 0 ? "" : `${summarize(syncRequests(point)).median} wait+wake RPCs`;
    const note = `${seconds} s; ring ${ring}; ${sync}`;
    const label = `ivsh, ${formatBlockSize(point.block)} blocks`;
    return rateResult(`sweep.${point.block}`, label, values, data.memcpyRates, note);
  });
  return {
    id: "fig3a",
    title: `Fig. 3a: ${formatBytes(plan.bytes)} through ivsh by block size`,
    about:
      `As the ivsh row of Fig. 3b, with chunk sizes from ${formatBlockSize(plan.blockSizes[0] ?? 0)} to ` +
      `${formatBlockSize(plan.blockSizes.at(-1) ?? 0)} and a ring of ${plan.depth} chunks. The note gives the ` +
      "median time, the ring's size and the median number of synchronisation RPCs (parks and wakes through " +
      "the arbiter) per transfer. Small chunks pay a fixed cost per hand-off; a ring that no longer fits " +
      "in the CPU's last-level cache sends every byte through DRAM, and a ring that does can beat the " +
      "DRAM-bound memcpy reference (the in-cache memcpy is the ceiling there).",
    results,
  };
}

export function accessSection(access: readonly AccessSamples[]): Section {
  const results = access.flatMap(({ id, label, read, write, latency }): BenchResult[] => [
    row(`${id}.read`, `${label}: sequential read`, "bytes/s", read, undefined, { to: MEMCPY_ID }),
    row(`${id}.write`, `${label}: sequential write`, "bytes/s", write, undefined, { to: MEMCPY_ID }),
    row(`${id}.latency`, `${label}: random 8-byte load`, "ns", latency),
  ]);
  return {
    id: "fig4b",
    title: "Fig. 4b: memory access times",
    about:
      "Sequential read (xxHash3 over the mapping) and write (memset) bandwidth and the latency of dependent " +
      "random 8-byte loads, one sample of each per mapping and round, mappings interleaved.",
    results,
  };
}

/** The report's transfer (2 GiB at 4 MiB blocks) per round, scaled from this run's sweep at 4 MiB. */
export function reportTransferSeconds(data: SuiteData): number[] {
  const point = reportPoint(data);
  return point ? point.seconds.map((seconds) => (seconds * REPORT_BYTES) / data.plan.bytes) : [];
}

/** The report's workload (20 000 lock pairs against 2 GiB at 4 MiB blocks), from this run's samples. */
export function lockShares(data: SuiteData, method: "fast" | "rpc"): number[] {
  const lockSeconds = data.locks[method].map((pairNs) => (pairNs * REPORT_LOCK_PAIRS) / 1e9);
  return perRound(lockSeconds, reportTransferSeconds(data));
}

function secondsOf(data: SuiteData, method: string): number[] {
  const samples = data.endToEnd[method];
  return samples && !samples.unavailable ? samples.seconds : [];
}

/**
 * `speedup.*`: the other's time ÷ ivsh's (above 1: ivsh was faster); `slowdown.*`: ivsh's time ÷ the
 * other's (above 1: ivsh took longer). As [id, label, ivsh's method, the other method].
 */
const RATIOS: readonly (readonly [string, string, string, string])[] = [
  ["speedup.null-socat", "ivsh ÷ socat, FILE → /dev/null (times faster)", "ivsh-null", "socat-null"],
  ["speedup.null-cat-socat", "ivsh ÷ cat FILE | socat (times faster)", "ivsh-null", "cat-socat-null"],
  ["slowdown.null-dd", "ivsh's time ÷ one dd read of FILE", "ivsh-null", "dd"],
  ["speedup.file-socat", "ivsh ÷ socat, FILE → NEW_FILE (times faster)", "ivsh-file", "socat-file"],
  ["slowdown.small-socat", "ivsh's time ÷ socat's, 1 KiB FILE → NEW_FILE", "ivsh-small", "socat-small"],
];

function ratioValues(data: SuiteData, id: string, ivsh: string, other: string): number[] {
  const [ivshSeconds, otherSeconds] = [secondsOf(data, ivsh), secondsOf(data, other)];
  return id.startsWith("speedup.")
    ? perRound(otherSeconds, ivshSeconds)
    : perRound(ivshSeconds, otherSeconds);
}

export function endToEndSection(data: SuiteData): Section {
  const results: BenchResult[] = Object.entries(data.endToEnd).map(([id, samples]) => {
    if (samples.unavailable)
      return { id: `e2e.${id}`, label: samples.label, unit: "s", note: samples.unavailable };
    const summary = summaryOf(samples.seconds);
    const rate = summary ? `, ${(samples.bytes / summary.median / 1e9).toPrecision(3)} GB/s` : "";
    return row(`e2e.${id}`, samples.label, "s", samples.seconds, `${formatBytes(samples.bytes)}${rate}`);
  });
  for (const [id, label, ivsh, other] of RATIOS)
    results.push(row(`e2e.${id}`, label, "ratio", ratioValues(data, id, ivsh, other)));
  return {
    id: "end-to-end",
    title: `End to end: ${formatBytes(data.plan.bytes)} and 1 KiB files, whole processes as users run them`,
    about:
      "Both processes started together and timed until both exited (socat's receiver first, as it must " +
      "listen; the wait counts), a random file in /dev/shm as the source, NEW_FILE a new file in /dev/shm " +
      "(removed after each run; before each, a file of its size is written and removed untimed, so every " +
      "method gets memory the kernel just freed, not pages the hypervisor took back), /dev/null discarding. Process start, " +
      "connecting, the ring, reading the file and the end handshake all count; the 1 KiB rows are the " +
      `median of 5 runs per round. ivsh: ${data.endToEndBinary || "the binary"}. Ratios within each round.`,
    results,
  };
}
