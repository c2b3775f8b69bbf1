/**
 * `ivsh bench --vm`: what a guest's request costs on its way to the arbiter, with the VM's bridge handing
 * the connection over (the arbiter reads the guest's socket itself; the default) and with the bridge
 * relaying it for its lifetime (IVSH_BRIDGE=relay, the path before hand-over), in the same run: one VM
 * boot each per round, in rotating order. The guest times `status` requests on its own clock.
 */
import type { BenchArbiter } from "./arbiter.ts";
import { withChildren } from "./child.ts";
import { rotate } from "./plan.ts";
import { BRIDGE_MODES, type BridgeMode, startVm, type VmTools } from "./vm-launch.ts";
import {
  emit,
  finalEvents,
  localNanoseconds,
  numbersField,
  type WorkerFlags,
  withWorkerClient,
} from "./worker-io.ts";

const ROUNDS = 300;
const TIMEOUT_MS = 180_000;

export type GuestRequestSamples = Record<BridgeMode, number[]>;

export function emptyGuestRequestSamples(): GuestRequestSamples {
  return { handover: [], relay: [] };
}

export async function guestRequestRound(
  tools: VmTools,
  arbiter: BenchArbiter,
  round: number,
  samples: GuestRequestSamples,
): Promise<void> {
  for (const mode of rotate([...BRIDGE_MODES], round))
    samples[mode].push(...(await guestRequests(tools, arbiter, mode)));
}

async function guestRequests(tools: VmTools, arbiter: BenchArbiter, mode: BridgeMode): Promise<number[]> {
  return withChildren(`time a guest's requests (${mode})`, TIMEOUT_MS, async (children) => {
    const vm = startVm(children, tools, arbiter, {
      name: `benchrpc-${mode}`,
      label: `request-timing VM (${mode})`,
      run: `ivsh bench-worker rpc-rtt --rounds ${ROUNDS}`,
      bridge: mode,
    });
    const [event] = await finalEvents([vm, "rpc"]);
    return numbersField(event, "latencies");
  });
}

/*
 * The guest's side, `rpc-rtt --rounds N`: a client's request round trips to the arbiter, each a `status`
 * request (the largest routine reply), timed one after another on this process's clock. In a guest this is
 * the path a guest's every request takes: its TCP, QEMU's user-mode network, then either the arbiter
 * directly (the bridge handed the connection over) or a relaying bridge process.
 */
const WARM_UP_ROUNDS = 20;

export async function runRpcRoundTrips(flags: WorkerFlags): Promise<void> {
  await withWorkerClient(flags, "bench rpc-rtt", async (client) => {
    const rounds = flags.count("rounds");
    for (let round = 0; round < WARM_UP_ROUNDS; round++) await client.status();
    const latencies: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const started = localNanoseconds();
      await client.status();
      latencies.push(Math.round(localNanoseconds() - started));
    }
    emit({ event: "rpc", vm: client.vm, latencies });
  });
}
