/**
 * What guest connections cost the host, with the bridge handing each one over to the arbiter and with
 * it relaying (IVSH_BRIDGE=relay): one VM with 20 guest clients, two VMs with 10 each
 * (src/bench/scale-guests.ts). Boots six VMs, one case and mode at a time: about 2 minutes under TCG.
 *
 *   npm run build && scripts/qemu/build-image.sh         # the guest's ivsh and image, once
 *   bun scripts/experiments/guest-connections.ts          # both cases, both modes
 *   bun scripts/experiments/guest-connections.ts A relay  # one case and/or one mode
 */
import { cleanupNow, killAllChildren } from "../../src/bench/child.ts";
import { GUEST_CASES, measureGuestConnections } from "../../src/bench/scale-guests.ts";
import { renderGuestConnections } from "../../src/bench/scale-report.ts";
import { BRIDGE_MODES, type BridgeMode, checkVmPrerequisites } from "../../src/bench/vm-launch.ts";

const words = process.argv.slice(2);
const cases = GUEST_CASES.filter(
  (each) => !words.some((word) => /^[A-Z]$/.test(word)) || words.includes(each.id),
);
const modes = BRIDGE_MODES.filter(
  (mode) => !words.some((word) => (BRIDGE_MODES as readonly string[]).includes(word)) || words.includes(mode),
) as BridgeMode[];

// Ctrl-C: end the VMs (launch.sh stops QEMU on SIGTERM) and the arbiter, and remove their directories.
for (const signal of ["SIGINT", "SIGTERM"] as const)
  process.on(signal, () => {
    killAllChildren();
    cleanupNow();
    process.exit(130);
  });

const started = performance.now();
const results = await measureGuestConnections(checkVmPrerequisites(), {
  cases,
  modes,
  progress: (message) => console.error(`guest-connections: ${message}`),
});
process.stdout.write(renderGuestConnections(results, (performance.now() - started) / 1000));
