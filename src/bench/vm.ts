/**
 * `ivsh bench --vm`: one VM per round (vm-launch.ts) running the bench-worker roles: both transfers (timed
 * on the host alone: a guest's clock is not its), Fig. 4b in the guest, the condvar hand-offs across the
 * boundary and a guest's request round trips.
 */

import { join } from "node:path";
import { failure, throwIfAborted } from "../errors.ts";
import { letSignalsLand } from "../transfer/signals.ts";
import { BenchArbiter } from "./arbiter.ts";
import { checkArrived } from "./channel.ts";
import { type Child, withChildren } from "./child.ts";
import { MiB } from "./memory.ts";
import type { BenchPlan } from "./plan.ts";
import { rotate } from "./plan.ts";
import { type AccessSamples, LOOP_MODES, type SuiteData, type SuiteRun } from "./suite-data.ts";
import { addPairRound, loopFlags } from "./sync-rounds.ts";
import {
  BRIDGE_MODES,
  type BridgeMode,
  checkVmPrerequisites,
  guestWorker,
  RUN_TAG,
  startVm,
  type VmTools,
} from "./vm-launch.ts";
import {
  type Event,
  emit,
  type Flags,
  finalEvents,
  freshChannel,
  nextEvent,
  numberField,
  numbersField,
  startWorker,
  type WorkerFlags,
  withWorkerClient,
} from "./worker-io.ts";

/** A VM name of this run's own: launch.sh runs one VM per name, and two runs at once must not collide. */
export function benchVmName(kind: string): string {
  return `${kind}-${RUN_TAG}`;
}
const ACCESS_BYTES = 16 * MiB;
const ACCESS_STEPS = 1 << 16;
const ACCESS_REPEATS = 3;

/** The guest's mappings of Fig. 4b, by the id suffix and label of their rows, and the worker's flags. */
const GUEST_ACCESS = [
  ["resource2", "guest: region via resource2 (uncached BAR)", { resource: "resource2" }],
  ["resource2_wc", "guest: region via resource2_wc (write-combining)", { resource: "resource2_wc" }],
  ["anonymous", "guest: anonymous memory", { memory: "anonymous" }],
] as const;

/** An ivsh-send worker's flags: the VM's bytes through `channel` as the local transfers send them. */
function sendFlags(plan: BenchPlan, channel: string) {
  return { channel, bytes: plan.vmBytes, chunk: plan.streamChunk, depth: plan.depth };
}

/** The guest's script: both transfers, Fig. 4b's mappings (`withAccess`), the condvar steps. */
function guestCommand(
  plan: BenchPlan,
  [toHost, fromHost]: string[],
  withAccess: boolean,
  condvar: VmCondvarPlan,
) {
  const access = { bytes: ACCESS_BYTES, repeats: ACCESS_REPEATS, steps: ACCESS_STEPS };
  return [
    guestWorker("ivsh-send", sendFlags(plan, toHost!)),
    guestWorker("ivsh-recv", { channel: fromHost }),
    ...(withAccess ? GUEST_ACCESS.map(([, , where]) => guestWorker("access", { ...access, ...where })) : []),
    ...vmCondvarGuestSteps(condvar),
  ].join(" && ");
}

async function vmRound(
  context: SuiteRun,
  tools: VmTools,
  arbiter: BenchArbiter,
  round: number,
  condvarSamples: SuiteData["condvarVm"],
) {
  const { plan } = context;
  const where = { socket: arbiter.socket, region: arbiter.region };
  const channels = [freshChannel("vm-to-host"), freshChannel("vm-from-host")];
  const timeoutMs = 300_000 + plan.vmBytes / 1e3;
  return withChildren("run a benchmark VM", timeoutMs, async (children) => {
    const condvarPlan = vmCondvarPlan(context.scratchDir, plan.vmBytes);
    const host = { where, children };
    // Listening before the guest boots: its writer connects as its step starts, the reader's clock with it.
    const readerFlags = loopFlags("reader", "socket", plan.vmBytes, { address: condvarPlan.loopAddress });
    const socketLoopReader = startWorker(children, "cv-loop", readerFlags, "host cv-loop socket reader");
    await nextEvent(socketLoopReader, "ready");
    const receiver = startWorker(children, "ivsh-recv", { ...where, channel: channels[0] }, "host receiver");
    await nextEvent(receiver, "waiting");
    const vm = startVm(children, tools, arbiter, {
      name: benchVmName("benchvm"),
      label: "benchmark VM (launch.sh)",
      options: vmForwards(condvarPlan),
      run: guestCommand(plan, channels, round === 0, condvarPlan),
    });
    const [sentByGuest, received] = await Promise.all([
      nextEvent(vm, "sent"),
      nextEvent(receiver, "received"),
    ]);
    checkArrived("stream guest → host", plan.vmBytes, sentByGuest, received);
    await receiver.finish();
    await nextEvent(vm, "waiting");
    const sender = startWorker(
      children,
      "ivsh-send",
      { ...where, ...sendFlags(plan, channels[1]!) },
      "host sender",
    );
    const [sent, receivedByGuest] = await Promise.all([nextEvent(sender, "sent"), nextEvent(vm, "received")]);
    checkArrived("stream host → guest", plan.vmBytes, sent, receivedByGuest);
    await sender.finish();
    const access: Event[] = [];
    for (const _ of round === 0 ? GUEST_ACCESS : []) access.push(await nextEvent(vm, "access"));
    await runVmCondvar(host, vm, condvarPlan, socketLoopReader, condvarSamples);
    await vm.finish();
    return {
      toHostSeconds: (numberField(received, "endMs") - numberField(received, "openedMs")) / 1000,
      fromHostSeconds: (numberField(sent, "finishMs") - numberField(sent, "startMs")) / 1000,
      access,
      accel: /, (\w+)\)\s*$/.exec(await vm.lastWords())?.[1] ?? "unknown",
    };
  });
}

function guestAccess(events: Event[]): AccessSamples[] {
  return events.map((event, index) => {
    const [read, write, latency] = ["read", "write", "latency"].map((kind) => numbersField(event, kind));
    const [suffix, label] = GUEST_ACCESS[index] ?? [index, String(event.label)];
    return { id: `access.guest-${suffix}`, label, read: read!, write: write!, latency: latency! };
  });
}

/**
 * The VM rounds, added once every one has passed; a failure goes into `data.failures` and the run still
 * writes the host's results (Ctrl-C still ends it).
 */
export async function runVmMeasurements(context: SuiteRun): Promise<void> {
  const { data, signal } = context;
  try {
    addVmSamples(data, await measureVms(context));
  } catch (error) {
    // Ctrl-C reaches launch.sh too, which may die of it before this process's own signal is handled.
    await letSignalsLand(signal);
    if (signal.aborted) throw error;
    data.failures.push(error);
    const reason = error instanceof Error ? error.message : String(error);
    data.notes.push(`VM results: none, since the VM measurements failed (${reason})`);
  }
}

type VmSamples = Awaited<ReturnType<typeof measureVms>>;

async function measureVms(context: SuiteRun) {
  const { plan } = context;
  const tools = checkVmPrerequisites();
  const vmRounds = { bytes: plan.vmBytes, ownRounds: true };
  const toHost = { label: "VM guest → host (ivsh)", seconds: [] as number[], ...vmRounds };
  const fromHost = { label: "VM host → guest (ivsh)", seconds: [] as number[], ...vmRounds };
  const pair = () => ({ condvar: [] as number[], socket: [] as number[] });
  const condvarVm = {
    loops: { ivsh: [] as number[], rpc: [] as number[], socket: [] as number[] },
    pingPong: pair(),
    wakeRoundTrips: pair(),
  };
  const guestRequests = { handover: [] as number[], relay: [] as number[] };
  const access: AccessSamples[] = [];
  const notes: string[] = [];
  // A region of its own: QEMU maps all of it as a BAR, and a small power of two always fits.
  await BenchArbiter.with({ label: "VM" }, async (arbiter) => {
    for (let round = 0; round < plan.repeats; round++) {
      throwIfAborted(context.signal, "run the VM benchmarks");
      context.progress(`VM round ${round + 1} of ${plan.repeats} (boots a guest with launch.sh)`);
      const result = await vmRound(context, tools, arbiter, round, condvarVm);
      toHost.seconds.push(result.toHostSeconds);
      for (const mode of rotate([...BRIDGE_MODES], round))
        guestRequests[mode].push(...(await timeGuestRequests(tools, arbiter, mode)));
      fromHost.seconds.push(result.fromHostSeconds);
      if (round === 0) {
        access.push(...guestAccess(result.access));
        const tcg =
          result.accel === "tcg" ? " (QEMU's emulator: guest numbers measure emulation, not IVSHMEM)" : "";
        const under = `1 vCPU guest under ${result.accel.toUpperCase()}${tcg}`;
        notes.push(`VM results: ${plan.vmBytes / MiB} MiB per transfer, ${under}`);
      }
    }
  });
  return { toHost, fromHost, condvarVm, guestRequests, access, notes };
}

function addVmSamples(data: SuiteData, vm: VmSamples): void {
  for (const mode of LOOP_MODES) data.condvarVm.loops[mode].push(...vm.condvarVm.loops[mode]);
  for (const kind of ["condvar", "socket"] as const) {
    data.condvarVm.pingPong[kind].push(...vm.condvarVm.pingPong[kind]);
    data.condvarVm.wakeRoundTrips[kind].push(...vm.condvarVm.wakeRoundTrips[kind]);
  }
  for (const mode of BRIDGE_MODES) data.guestRequests[mode].push(...vm.guestRequests[mode]);
  data.access.push(...vm.access);
  data.notes.push(...vm.notes);
  data.transfers["vm-guest-to-host"] = vm.toHost;
  data.transfers["vm-host-to-guest"] = vm.fromHost;
}

/*
 * The condvar hand-offs across the VM: the loops' writer and a cv-pair's b in the guest, each next to the
 * same over the VM's network (its TCP through QEMU's user-mode NIC into socat, to the host worker's socket).
 */
/** Guest ports of the socket baselines (the bridge has 7777). */
const LOOP_PORT = 7801;
const PAIR_PORT = 7802;
const GUEST_GATEWAY = "10.0.2.100";
const VM_PAIR_ROUNDS = 2000;
const VM_PAIR_WAKES = 200;

type VmCondvarPlan = ReturnType<typeof vmCondvarPlan>;

/** The names and paths one VM round's condvar steps use; made before the VM boots. */
function vmCondvarPlan(scratch: string, bytes: number) {
  const [ivsh, rpc, socket] = LOOP_MODES.map((mode) => freshChannel(`vm-loops-${mode}`));
  const names = { ivsh: ivsh!, rpc: rpc!, socket: socket!, pair: freshChannel("vm-pair") };
  const address = (name: string) => join(scratch, `${name}.sock`);
  return { bytes, names, loopAddress: address(names.socket), pairAddress: address(names.pair) };
}

/** launch.sh --forward options: the guest's connections to the baselines' ports reach the host sockets. */
function vmForwards(plan: VmCondvarPlan): string[] {
  return [
    ["--forward", `${LOOP_PORT}=exec socat - UNIX-CONNECT:${plan.loopAddress}`],
    ["--forward", `${PAIR_PORT}=exec socat - UNIX-CONNECT:${plan.pairAddress}`],
  ].flat();
}

/** The guest's side, as shell steps; each announces itself so the host starts its side then. */
function vmCondvarGuestSteps(plan: VmCondvarPlan): string[] {
  const step = (name: string) => `echo '{"event":"step","step":"${name}"}'`;
  return [
    ...LOOP_MODES.map((mode) => {
      const where =
        mode === "socket"
          ? { across: "vm", address: `${GUEST_GATEWAY}:${LOOP_PORT}` }
          : { name: plan.names[mode] };
      return `${step(`loops-${mode}`)} && ${guestWorker("cv-loop", loopFlags("writer", mode, plan.bytes, where))}`;
    }),
    `${step("pair")} && ${guestWorker("cv-pair", pairFlags(plan, "b", `${GUEST_GATEWAY}:${PAIR_PORT}`))}`,
  ];
}

/** A cv-pair across the VM: a on the host, b in the guest reaching a's socket through the VM's network. */
function pairFlags(plan: VmCondvarPlan, side: "a" | "b", address: string): Flags {
  const counts = { rounds: VM_PAIR_ROUNDS, wakes: VM_PAIR_WAKES };
  return { side, across: "vm", name: plan.names.pair, address, ...counts };
}

/** Where the host's workers find the arbiter, and the VM round's children they join. */
type VmHost = { readonly where: { socket: string; region: string }; readonly children: Child[] };

/** Runs the host's side of each guest step in turn, as the guest announces it; adds the round to `samples`. */
async function runVmCondvar(
  host: VmHost,
  vm: Child,
  plan: VmCondvarPlan,
  socketReader: Child,
  samples: SuiteData["condvarVm"],
): Promise<void> {
  for (const mode of LOOP_MODES) {
    await expectStep(vm, `loops-${mode}`);
    const reading = loopFlags("reader", mode, plan.bytes, { ...host.where, name: plan.names[mode] });
    const reader =
      mode === "socket"
        ? socketReader
        : startWorker(host.children, "cv-loop", reading, `host cv-loop ${mode} reader`);
    const [read] = await Promise.all([nextEvent(reader, "loop"), nextEvent(vm, "loop")]);
    await reader.finish();
    samples.loops[mode].push(numberField(read, "seconds"));
  }
  await expectStep(vm, "pair");
  const flags = { ...host.where, ...pairFlags(plan, "a", plan.pairAddress) };
  const a = startWorker(host.children, "cv-pair", flags, "host cv-pair a");
  const [trips] = await Promise.all([nextEvent(a, "round-trips"), nextEvent(vm, "wakes")]);
  await a.finish();
  addPairRound(samples.pingPong, samples.wakeRoundTrips, trips, trips);
}

async function expectStep(vm: Child, name: string): Promise<void> {
  const announced = String((await nextEvent(vm, "step")).step);
  if (announced !== name)
    throw failure("Internal", `start the host's side of '${name}'`, `the guest announced '${announced}'`);
}

/*
 * A guest's request round trips to the arbiter, its connection handed over by the bridge or relayed
 * (IVSH_BRIDGE=relay): one VM boot each per round, timed by the guest on its own clock.
 */
const REQUEST_ROUNDS = 300;
const REQUEST_TIMEOUT_MS = 180_000;

async function timeGuestRequests(tools: VmTools, arbiter: BenchArbiter, mode: BridgeMode): Promise<number[]> {
  return withChildren(`time a guest's requests (${mode})`, REQUEST_TIMEOUT_MS, async (children) => {
    const vm = startVm(children, tools, arbiter, {
      name: benchVmName(`benchrpc-${mode}`),
      label: `request-timing VM (${mode})`,
      run: `ivsh bench-worker rpc-rtt --rounds ${REQUEST_ROUNDS}`,
      bridge: mode,
    });
    const [event] = await finalEvents([vm, "rpc"]);
    return numbersField(event, "latencies");
  });
}

/* The guest's side, `rpc-rtt --rounds N`: `status` requests (the largest routine reply) one by one. */
const WARM_UP_ROUNDS = 20;

export async function runRpcRoundTrips(flags: WorkerFlags): Promise<void> {
  await withWorkerClient(flags, "bench rpc-rtt", async (client) => {
    const rounds = flags.count("rounds");
    for (let round = 0; round < WARM_UP_ROUNDS; round++) await client.status();
    const latencies: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const started = Bun.nanoseconds();
      await client.status();
      latencies.push(Math.round(Bun.nanoseconds() - started));
    }
    emit({ event: "rpc", vm: client.vm, latencies });
  });
}
