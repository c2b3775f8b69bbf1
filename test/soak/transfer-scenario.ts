/**
 * A transfer with faults: `ivsh guest send` and `recv` as real processes, a file or a (slow) pipe on
 * each end, random sizes, chunk sizes and depths, either side first; SIGKILL, SIGINT, SIGTERM, Ctrl-C of
 * a pipeline, short and past-the-lease stops of any process, and arbiter kills and stops at random moments.
 */
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Prng } from "../helpers/prng.ts";
import {
  type Fault,
  injectFaults,
  ivsh,
  makeFifo,
  randomArbiterFault,
  randomProcessFault,
  soakScript,
  spawnTracked,
  type Tracked,
} from "./harness.ts";
import { rescueAWaitingEnd } from "./rescue.ts";
import { livenessAllowanceMs, type ScenarioResult, type SoakContext } from "./scenario.ts";
import { judgeTransfer, type TransferPlan } from "./transfer-verdict.ts";

const MiB = 1 << 20;
const CHUNKS = [4096, 8192, 16384, 65536, 262144, MiB, 4 * MiB];

function pickSize(random: Prng, chunk: number, pace: string): number {
  const kind = random.weighted({ empty: 1, tiny: 1, edge: 2, small: 4, medium: 2, large: 0.5 });
  const size = {
    empty: () => 0,
    tiny: () => random.range(1, 5000),
    edge: () => Math.max(0, random.range(1, 4) * chunk + random.range(-1, 1)),
    small: () => random.range(1, 8 * MiB),
    medium: () => random.range(8 * MiB, 64 * MiB),
    large: () => random.range(64 * MiB, 256 * MiB),
  }[kind]();
  return pace === "slow" ? Math.min(size, 16 * MiB) : size;
}

export function planTransfer(random: Prng, poolBytes: number): TransferPlan {
  const chunk = random.pick(CHUNKS);
  const source = random.weighted({ file: 2, pipe: 1, "slow-pipe": 1 } as const);
  const sink = random.weighted({ file: 3, pipe: 1 } as const);
  const size = pickSize(random, chunk, source === "slow-pipe" ? "slow" : "fast");
  return {
    size,
    offset: random.int(poolBytes - size + 1),
    chunk,
    depth: random.range(2, 16),
    source,
    sink,
    slowSink: sink === "pipe" && random.chance(0.3),
    receiverFirst: random.chance(0.5),
    gapMs: random.range(0, 300),
    channel: `soak-${random.next().toString(16)}`,
  };
}

function sizeOf(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

function estimateMs(plan: TransferPlan): number {
  const bytesPerMs = plan.source === "slow-pipe" || plan.slowSink ? 15_000 : 150_000;
  return 1500 + plan.gapMs + plan.size / bytesPerMs;
}

/** The processes of the transfer, by name: sender, receiver, and producer / consumer for pipe ends. */
function startSide(
  plan: TransferPlan,
  context: SoakContext,
  files: { source: string; output: string },
  side: "send" | "recv",
  senderFlags: string[],
) {
  const env = { IVSH_SOCKET: context.paths.socket, IVSH_REGION: context.paths.region };
  const seed = String(context.random.next());
  const common = ["--channel", plan.channel];
  const started: Tracked[] = [];
  if (side === "send") {
    const geometry = ["--block-size", String(plan.chunk), "--depth", String(plan.depth), ...senderFlags];
    if (plan.source === "file")
      return [
        spawnTracked({
          name: "sender",
          isIvsh: true,
          env,
          argv: ivsh("guest", "send", files.source, ...common, ...geometry),
        }),
      ];
    const fifo = makeFifo(join(context.dir, "in.fifo"));
    const pace = plan.source === "slow-pipe" ? "slow" : "fast";
    started.push(
      spawnTracked({
        name: "sender",
        isIvsh: true,
        env,
        stdinFrom: fifo,
        argv: ivsh("guest", "send", "-", ...common, ...geometry),
      }),
    );
    started.push(
      spawnTracked({
        name: "producer",
        isIvsh: false,
        stdoutTo: fifo,
        argv: soakScript("pipe-end.ts", "producer", files.source, pace, seed),
      }),
    );
    return started;
  }
  if (plan.sink === "file")
    return [
      spawnTracked({
        name: "receiver",
        isIvsh: true,
        env,
        argv: ivsh("guest", "recv", "--out", files.output, ...common),
      }),
    ];
  const fifo = makeFifo(join(context.dir, "out.fifo"));
  started.push(
    spawnTracked({
      name: "receiver",
      isIvsh: true,
      env,
      stdoutTo: fifo,
      argv: ivsh("guest", "recv", "--out", "-", ...common),
    }),
  );
  started.push(
    spawnTracked({
      name: "consumer",
      isIvsh: false,
      stdinFrom: fifo,
      argv: soakScript("pipe-end.ts", "consumer", files.output, plan.slowSink ? "slow" : "fast", seed),
    }),
  );
  return started;
}

/**
 * A transfer's part in a crowd (./crowd-scenario.ts): the ring's shape, chosen so that the crowd's rings
 * may together need more than the region; at most `maxBytes`; no arbiter faults (one would be every
 * transfer's); and `waitMs` more before its ends count as hung (a sender may wait that long for room).
 */
export interface CrowdPart {
  chunk: number;
  depth: number;
  maxBytes: number;
  waitMs: number;
}

function planFaults(
  random: Prng,
  plan: TransferPlan,
  spanMs: number,
  leaseMs: number,
  arbiterFaults: boolean,
): Fault[] {
  const targets = ["sender", "receiver"];
  if (plan.source !== "file") targets.push("producer");
  if (plan.sink === "pipe") targets.push("consumer");
  const faults: Fault[] = [];
  const count = random.weighted({ 0: 2, 1: 5, 2: 3 } as const);
  for (let index = 0; index < Number(count); index++) {
    let fault: Fault;
    if (arbiterFaults && random.chance(0.15)) fault = randomArbiterFault(random, spanMs, leaseMs);
    else if (plan.source !== "file" && random.chance(0.2))
      fault = { kind: "ctrl-c", targets: ["producer", "sender"], atMs: random.int(spanMs) };
    else fault = randomProcessFault(random, targets, spanMs, leaseMs);
    // Most faults land mid-stream, at a random byte of it; the rest at a random moment, start-up included.
    if (plan.size > 0 && random.chance(0.7)) {
      fault.atProgress = random.int(plan.size);
      fault.atMs = spanMs;
    }
    faults.push(fault);
  }
  return faults;
}

export async function transferScenario(context: SoakContext, crowd?: CrowdPart): Promise<ScenarioResult> {
  const { random, leaseMs } = context;
  const drawn = planTransfer(random, context.pool.byteLength);
  const plan = crowd
    ? { ...drawn, chunk: crowd.chunk, depth: crowd.depth, size: Math.min(drawn.size, crowd.maxBytes) }
    : drawn;
  const expected = context.pool.subarray(plan.offset, plan.offset + plan.size);
  const files = {
    source: join(context.dir, "source"),
    output: join(context.dir, "output"),
    rescued: join(context.dir, "rescued"),
  };
  writeFileSync(files.source, expected);
  const estimate = estimateMs(plan);
  const faults = planFaults(random, plan, estimate, leaseMs, crowd === undefined);
  const processes = new Map<string, Tracked>();
  const startedMs = performance.now();
  const order = plan.receiverFirst ? (["recv", "send"] as const) : (["send", "recv"] as const);
  const received = () => Math.max(...[files.output, `${files.output}.partial`].map(sizeOf));
  const faulting = injectFaults(faults, processes, context.arbiter, startedMs, received);
  for (const [step, side] of order.entries()) {
    if (step === 1) await Bun.sleep(plan.gapMs);
    // In a crowd, a wait for room is said (--progress), to be counted.
    const senderFlags = crowd ? ["--progress"] : [];
    for (const tracked of startSide(plan, context, files, side, senderFlags))
      processes.set(tracked.name, tracked);
  }
  const applied = await faulting;
  const deadline = performance.now() + 3 * estimate + livenessAllowanceMs(leaseMs) + (crowd?.waitMs ?? 0);
  const rescue = await rescueAWaitingEnd(plan.channel, context, files, processes, deadline);
  const ivshEnds = [...processes.values()].filter((tracked) => tracked.isIvsh);
  await Promise.all(ivshEnds.map((tracked) => tracked.settle(deadline)));
  // A rescue finishes with a survivor that completed; one left waiting by a survivor that failed is let go.
  if (rescue) await rescue.settle(rescue.partner.exit?.code === 0 ? deadline : performance.now());
  // Pipe ends follow their ivsh process within moments; one stuck opening a FIFO nobody opened is let go.
  const helpers = [...processes.values()].filter((tracked) => !tracked.isIvsh);
  await Promise.all(helpers.map((tracked) => tracked.settle(performance.now() + 3000)));
  const read = (path: string) => (existsSync(path) ? new Uint8Array(readFileSync(path)) : undefined);
  const output = read(files.output);
  const partial = existsSync(`${files.output}.partial`);
  const rescued = read(files.rescued);
  const violations = await judgeTransfer({ plan, expected, processes, applied, output, partial, rescued });
  const result = { kind: "transfer", description: describePlan(plan), faults: applied, violations };
  if (!crowd) return result;
  const waited = (await processes.get("sender")?.stderr)?.includes("waiting for room") ?? false;
  return { ...result, tallies: { waitedForRoom: waited ? 1 : 0 } };
}

function describePlan(plan: TransferPlan): string {
  const order = plan.receiverFirst ? "receiver first" : "sender first";
  const sink = plan.sink === "pipe" && plan.slowSink ? "slow-pipe" : plan.sink;
  return `${plan.size} bytes, ${plan.source} → ${sink}, chunk ${plan.chunk} × ${plan.depth}, ${order} (+${plan.gapMs} ms)`;
}
