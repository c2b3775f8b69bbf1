/**
 * `ivsh bench --vm`, the condvar hand-offs across the VM boundary: the report's loops with the writer in the
 * guest and the reader on the host, then a cv-pair with side a on the host and b in the guest, each next
 * to the same over the VM's network: what a guest without ivsh would use, its TCP through QEMU's user-mode
 * NIC (slirp, guestfwd) into `socat`, which relays to the host worker's Unix socket. The host times all.
 */
import { join } from "node:path";
import { failure } from "../errors.ts";
import type { Child } from "./child.ts";
import { addPairRound, LOOP_MODES, type LoopMode, loopFlags } from "./sync.ts";
import { guestWorker } from "./vm-launch.ts";
import { type Flags, freshChannel, nextEvent, numberField, startWorker } from "./worker-io.ts";

/** Guest ports of the socket baselines (the bridge has 7777). */
const LOOP_PORT = 7801;
const PAIR_PORT = 7802;
const GUEST_GATEWAY = "10.0.2.100";
const VM_PAIR_ROUNDS = 2000;
const VM_PAIR_WAKES = 200;

export type VmCondvarPlan = ReturnType<typeof vmCondvarPlan>;

/**
 * Every VM round's results, as rows take them: the loops' reader seconds and the mean ping-pong round trip,
 * one sample per round; every parked round trip (a wake-up each way), ns.
 */
export interface VmCondvarSamples {
  readonly loops: Record<LoopMode, number[]>;
  readonly pingPong: { condvar: number[]; socket: number[] };
  readonly wakeRoundTrips: { condvar: number[]; socket: number[] };
}

/** The names and paths one VM round's condvar steps use; made before the VM boots. */
export function vmCondvarPlan(scratch: string, bytes: number) {
  const names = {
    ivsh: freshChannel("vm-loops-ivsh"),
    rpc: freshChannel("vm-loops-rpc"),
    socket: freshChannel("vm-loops-socket"),
    pair: freshChannel("vm-pair"),
  };
  return {
    bytes,
    names,
    loopAddress: join(scratch, `${names.socket}.sock`),
    pairAddress: join(scratch, `${names.pair}.sock`),
  };
}

/** launch.sh --forward options: the guest's connections to the baselines' ports reach the host sockets. */
export function vmForwards(plan: VmCondvarPlan): string[] {
  return [
    ["--forward", `${LOOP_PORT}=exec socat - UNIX-CONNECT:${plan.loopAddress}`],
    ["--forward", `${PAIR_PORT}=exec socat - UNIX-CONNECT:${plan.pairAddress}`],
  ].flat();
}

/** The guest's side, as shell steps; each announces itself so the host starts its side then. */
export function vmCondvarGuestSteps(plan: VmCondvarPlan): string[] {
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

export interface VmCondvarHost {
  readonly where: { socket: string; region: string };
  readonly children: Child[];
}

/**
 * The socket loop's reader listens before the guest boots: the guest's writer connects as soon as its
 * step starts, and the reader's clock starts only when it does.
 */
export function startSocketLoopReader(host: VmCondvarHost, plan: VmCondvarPlan): Child {
  const flags = loopFlags("reader", "socket", plan.bytes, { address: plan.loopAddress });
  return startHostWorker(host, "cv-loop", flags, "host cv-loop socket reader");
}

/** Runs the host's side of each guest step in turn, as the guest announces it; adds the round to `samples`. */
export async function runVmCondvar(
  host: VmCondvarHost,
  vm: Child,
  plan: VmCondvarPlan,
  socketReader: Child,
  samples: VmCondvarSamples,
): Promise<void> {
  for (const mode of LOOP_MODES) {
    await expectStep(vm, `loops-${mode}`);
    const reading = loopFlags("reader", mode, plan.bytes, { ...host.where, name: plan.names[mode] });
    const reader =
      mode === "socket"
        ? socketReader
        : startHostWorker(host, "cv-loop", reading, `host cv-loop ${mode} reader`);
    const [read] = await Promise.all([nextEvent(reader, "loop"), nextEvent(vm, "loop")]);
    await reader.finish();
    samples.loops[mode].push(numberField(read, "seconds"));
  }
  await expectStep(vm, "pair");
  const flags = { ...host.where, ...pairFlags(plan, "a", plan.pairAddress) };
  const a = startHostWorker(host, "cv-pair", flags, "host cv-pair a");
  const [trips] = await Promise.all([nextEvent(a, "round-trips"), nextEvent(vm, "wakes")]);
  await a.finish();
  addPairRound(samples.pingPong, samples.wakeRoundTrips, trips, trips);
}

function startHostWorker(host: VmCondvarHost, role: string, flags: Flags, label: string): Child {
  return startWorker(host.children, role, flags, label);
}

async function expectStep(vm: Child, name: string): Promise<void> {
  const announced = String((await nextEvent(vm, "step")).step);
  if (announced !== name)
    throw failure("Internal", `start the host's side of '${name}'`, `the guest announced '${announced}'`);
}
