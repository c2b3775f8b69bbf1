/**
 * Runs every measurement of `ivsh bench`, methods interleaved in rotating order so noise hits all alike and
 * ratios within a round cancel most of it (docs/bench/README.md).
 */
import { throwIfAborted } from "../errors.ts";
import { isTmpfsPath } from "../region/region-file.ts";
import { measureHostAccess } from "./access-bench.ts";
import { BenchArbiter } from "./arbiter.ts";
import { measureChannelTransfer } from "./channel.ts";
import { emptyDigestSamples, measureDigestRound } from "./digest-bench.ts";
import {
  type EndToEndSetup,
  emptyEndToEndSamples,
  measureEndToEndRound,
  prepareEndToEnd,
} from "./end-to-end.ts";
import { type MemcpyMeasurement, measureMemcpy, measureMemcpyInCache } from "./memory.ts";
import { type BenchPlan, regionBytesFor, rotate } from "./plan.ts";
import { measureStream, STREAM_BASELINES, STREAM_LABELS, type StreamBaseline } from "./stream.ts";
import type { ArbiterAddress, SuiteContext, SuiteData, SuiteRun, TransferSamples } from "./suite-data.ts";
import { condvarRound, measureHandoff, measureLockPairs, measureSocketFloor } from "./sync-rounds.ts";
import { runVmMeasurements } from "./vm.ts";

const MEMCPY_COPIES_PER_ROUND = 3;
const IVSH_LABELS = {
  ivsh: "ivsh (/dev/shm region)",
  "ivsh-setup": "ivsh incl. channel setup",
  "ivsh-disk": "ivsh (mmapped file on disk)",
};

export function runSuite(context: SuiteContext): Promise<SuiteData> {
  return BenchArbiter.with({ regionBytes: regionBytesFor(context.plan), label: "/dev/shm" }, (shm) =>
    BenchArbiter.with({ regionParent: context.diskDir, label: "disk" }, (disk) =>
      measureAll(context, shm, disk),
    ),
  );
}

async function measureAll(context: SuiteContext, shm: BenchArbiter, disk: BenchArbiter): Promise<SuiteData> {
  const { plan, progress } = context;
  const tmpfs = `${context.diskDir} is tmpfs: the "file on disk" results measure RAM, not a disk-backed file.`;
  const notes = isTmpfsPath(context.diskDir) ? [tmpfs] : [];
  progress("warming up: faulting in both regions' rings");
  await warmUp(plan, shm, Math.max(...plan.blockSizes, plan.streamChunk));
  await warmUp(plan, disk, plan.streamChunk);
  const memcpyInCache = measureMemcpyInCache();
  const endToEnd = await prepareEndToEnd(shm, plan.bytes);
  const data = emptyData(plan, memcpyInCache, notes, endToEnd.binary);
  const run: SuiteRun = { ...context, data, shm, disk };
  try {
    await measureRounds(run, endToEnd);
  } finally {
    endToEnd.remove();
  }
  progress("hand-off latency: parked, spinning, socket floor");
  await handoffRounds(run);
  progress("memory access times (Fig. 4b)");
  data.access.push(...(await measureHostAccess(run)));
  if (plan.vm) await runVmMeasurements(run);
  return data;
}

async function measureRounds(run: SuiteRun, endToEnd: EndToEndSetup): Promise<void> {
  const { plan, data, progress, signal } = run;
  for (let round = 0; round < plan.repeats; round++) {
    throwIfAborted(signal, "run the benchmarks");
    const of = `round ${round + 1} of ${plan.repeats}`;
    progress(`${of}: memcpy, digest, Fig. 3b, end to end, Fig. 3a, lock cost`);
    data.memcpyRates.push(measureMemcpy({ repeats: MEMCPY_COPIES_PER_ROUND }).rate.median);
    measureDigestRound(data.digest);
    await transferRound(run, round);
    await measureEndToEndRound(endToEnd, round, data.endToEnd);
    await sweepRound(run, round);
    await measureLockPairs(run, round);
    progress(`${of}: the report's loops, condvar ping-pong and wake-ups`);
    await condvarRound(run, round);
  }
}

function emptyData(
  plan: BenchPlan,
  memcpyInCache: MemcpyMeasurement,
  notes: string[],
  binary: string,
): SuiteData {
  const labels = { ...IVSH_LABELS, ...STREAM_LABELS };
  const transfers = Object.entries(labels).map(([id, label]) => [
    id,
    { label, seconds: [], bytes: plan.bytes },
  ]);
  const handoff = () => ({ latenciesNs: [], unparked: 0, offsetsNs: [] });
  const loops = () => ({ ivsh: [], rpc: [], socket: [] });
  const pair = () => ({ condvar: [], socket: [] });
  return {
    plan,
    memcpyRates: [],
    memcpyInCache,
    digest: emptyDigestSamples(),
    transfers: Object.fromEntries(transfers),
    sweep: plan.blockSizes.map((block) => ({ block, seconds: [], requests: [] })),
    locks: { fast: [], try: [], rpc: [] },
    handoff: { parked: handoff(), spin: handoff(), floor: { oneWayNs: [], roundTripsNs: [], relayNs: [] } },
    condvar: { loops: loops(), pingPong: pair(), wakes: pair(), wakeRatios: [] },
    condvarVm: { loops: loops(), pingPong: pair(), wakeRoundTrips: pair() },
    guestRequests: { handover: [], relay: [] },
    access: [],
    endToEnd: emptyEndToEndSamples(plan.bytes),
    endToEndBinary: binary,
    notes,
    failures: [],
  };
}

/** An untimed transfer that fills the largest ring twice, so no timed run pays first-touch page faults. */
async function warmUp(plan: BenchPlan, arbiter: BenchArbiter, chunkBytes: number): Promise<void> {
  await measureChannelTransfer(plan, arbiter, chunkBytes, chunkBytes * plan.depth * 2);
}

async function transferRound({ signal, plan, data, shm, disk }: SuiteRun, round: number): Promise<void> {
  const ivsh = (arbiter: ArbiterAddress, withSetup?: TransferSamples) => async () => {
    const transfer = await measureChannelTransfer(plan, arbiter, plan.streamChunk);
    withSetup?.seconds.push(transfer.withSetupSeconds);
    return transfer.seconds;
  };
  const stream = (baseline: StreamBaseline) => async () => {
    const transfer = await measureStream(baseline, { bytes: plan.bytes, chunk: plan.streamChunk });
    return "unavailable" in transfer ? transfer.unavailable : transfer.seconds;
  };
  type Method = [string, () => Promise<number | string>];
  const methods: Method[] = [
    ["ivsh", ivsh(shm, data.transfers["ivsh-setup"])],
    ["ivsh-disk", ivsh(disk)],
    ...STREAM_BASELINES.map((baseline): Method => [baseline, stream(baseline)]),
  ];
  for (const [id, measure] of rotate(methods, round)) {
    throwIfAborted(signal, "run the transfers");
    const outcome = await measure();
    const samples = data.transfers[id]!;
    if (typeof outcome === "number") samples.seconds.push(outcome);
    else data.transfers[id] = { ...samples, unavailable: outcome };
  }
}

async function sweepRound({ signal, plan, data, shm }: SuiteRun, round: number) {
  for (const point of rotate(data.sweep, round)) {
    throwIfAborted(signal, "run the block-size sweep");
    const transfer = await measureChannelTransfer(plan, shm, point.block);
    point.seconds.push(transfer.seconds);
    point.requests.push(transfer.requests);
  }
}

/** Hand-offs in slices, the three kinds interleaved, so their samples span the same stretch of time. */
async function handoffRounds(run: SuiteRun): Promise<void> {
  const { plan } = run;
  const slice = (total: number) => Math.max(2, Math.ceil(total / plan.repeats));
  const kinds: (() => Promise<void>)[] = [
    () => measureHandoff(run, "parked", slice(plan.handoffRounds)),
    () => measureHandoff(run, "spin", slice(plan.spinRounds)),
    () => measureSocketFloor(run, slice(plan.handoffRounds), 1),
    () => measureSocketFloor(run, slice(plan.handoffRounds), 2),
  ];
  for (let round = 0; round < plan.repeats; round++)
    for (const kind of rotate(kinds, round)) {
      throwIfAborted(run.signal, "measure hand-offs");
      await kind();
    }
}
