/**
 * `ivsh bench --vm`: what a guest's request costs on its way to the arbiter, with the VM's bridge handing
 * the connection over (the arbiter reads the guest's socket itself; the default) and with the bridge
 * relaying it for its lifetime (IVSH_BRIDGE=relay, the path before hand-over), in the same run: one VM
 * boot each per round, in rotating order. The guest times `status` requests on its own clock.
 */
import { selfCommand } from "../self.ts";
import type { BenchArbiter } from "./arbiter.ts";
import { Child, withChildren } from "./child.ts";
import { rotate } from "./plan.ts";
import { nextEvent, numbersField } from "./worker-io.ts";

/** launch.sh and the ivsh binary to put in the guest (vm.ts checks both). */
interface LaunchTools {
  readonly launch: string;
  readonly binary: string;
}

export const BRIDGE_MODES = ["handover", "relay"] as const;
export type BridgeMode = (typeof BRIDGE_MODES)[number];
const ROUNDS = 300;
const TIMEOUT_MS = 180_000;

export type GuestRequestSamples = Record<BridgeMode, number[]>;

export function emptyGuestRequestSamples(): GuestRequestSamples {
  return { handover: [], relay: [] };
}

export async function guestRequestRound(
  tools: LaunchTools,
  arbiter: BenchArbiter,
  round: number,
  samples: GuestRequestSamples,
): Promise<void> {
  for (const mode of rotate([...BRIDGE_MODES], round))
    samples[mode].push(...(await guestRequests(tools, arbiter, mode)));
}

async function guestRequests(tools: LaunchTools, arbiter: BenchArbiter, mode: BridgeMode): Promise<number[]> {
  return withChildren(`time a guest's requests (${mode})`, TIMEOUT_MS, async (children) => {
    const vm = new Child(
      [
        tools.launch,
        ...["--name", `benchrpc-${mode}`, "--region", arbiter.region, "--socket", arbiter.socket],
        ...["--ivsh", selfCommand().join(" "), "--binary", tools.binary, "--separate-stderr"],
        ...["--run", `ivsh bench-worker rpc-rtt --rounds ${ROUNDS}`],
      ],
      `request-timing VM (${mode})`,
      // The bridge reads this from the environment QEMU passes on to guestfwd's command.
      { IVSH_BRIDGE: mode === "relay" ? "relay" : "" },
    );
    children.push(vm);
    const event = await nextEvent(vm, "rpc");
    await vm.finish();
    return numbersField(event, "latencies");
  });
}
