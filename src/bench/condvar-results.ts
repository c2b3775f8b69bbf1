/**
 * The condvar hand-offs as result rows (Fig. 4a, continued): the report's loops three ways, ping-pong and
 * parked wake-ups next to a Unix socket between the same two processes. Ratios are taken per round.
 */
import { formatBytes } from "../units.ts";
import { type BenchResult, type RowSpec, rows, type Section } from "./report.ts";
import { perRound } from "./results.ts";
import type { SuiteData } from "./suite-data.ts";
import { LOOP_AREA_BYTES } from "./sync.ts";

/** `--vm`: the same hand-offs between a host process and a guest one, next to the VM's network. */
function acrossVmRows(data: SuiteData): BenchResult[] {
  const { loops, pingPong, wakeRoundTrips: trips } = data.condvarVm;
  if (loops.ivsh.length === 0) return [];
  const moved = `${formatBytes(data.plan.vmBytes)} guest→host in ${formatBytes(LOOP_AREA_BYTES - 1)} chunks`;
  const network = "the guest's TCP through QEMU's user-mode NIC and socat to a Unix socket";
  const { handover, relay } = data.guestRequests;
  return rows({
    "vm.loops.ivsh": ["VM: report's loops, ivsh CondVar", "s", loops.ivsh, `${moved}; reader on the host`],
    "vm.loops.rpc": ["VM: report's loops, RPC per operation", "s", loops.rpc, moved],
    "vm.loops.socket": ["VM: the same chunks over the VM's network", "s", loops.socket, network],
    "vm.loops.speedup-rpc": ["VM loops: RPC per operation ÷ ivsh", "ratio", perRound(loops.rpc, loops.ivsh)],
    "vm.loops.speedup-socket": ["VM loops: VM network ÷ ivsh", "ratio", perRound(loops.socket, loops.ivsh)],
    "vm.pingpong.condvar": ["VM: CondVar ping-pong round trip", "ns", pingPong.condvar, "host ↔ guest"],
    "vm.pingpong.socket": ["VM: ping-pong over the VM's network", "ns", pingPong.socket, network],
    "vm.pingpong.ratio": [
      "VM ping-pong: CondVar ÷ VM network",
      "ratio",
      perRound(pingPong.condvar, pingPong.socket),
    ],
    "vm.wake.condvar": [
      "VM: parked round trip, CondVar (a wake-up each way)",
      "ns",
      trips.condvar,
      "host notifies the idle guest, the guest answers; both park through the arbiter",
    ],
    "vm.wake.socket": ["VM: parked round trip over the VM's network", "ns", trips.socket, network],
    "vm.request.handover": [
      "VM: a guest's status request, connection handed over",
      "ns",
      handover,
      "guest TCP → QEMU → the arbiter, which adopted the socket from the bridge",
    ],
    "vm.request.relay": [
      "VM: a guest's status request, bridge relaying",
      "ns",
      relay,
      "IVSH_BRIDGE=relay: guest TCP → QEMU → a bridge process per connection → the arbiter",
    ],
  });
}

export function condvarSection(data: SuiteData): Section {
  const { loops, pingPong, wakes, wakeRatios } = data.condvar;
  const moved = `${formatBytes(data.plan.bytes)} in ${formatBytes(LOOP_AREA_BYTES - 1)} chunks`;
  const table: Record<string, RowSpec> = {
    "loops.ivsh": [
      "report's loops, ivsh CondVar",
      "s",
      loops.ivsh,
      `${moved}; spin, then futex or arbiter park`,
    ],
    "loops.rpc": [
      "report's loops, RPC per operation (the report's design)",
      "s",
      loops.rpc,
      `${moved}; an arbiter round trip per acquire, release, wait, notify`,
    ],
    "loops.socket": [
      "the same chunks over a Unix socket",
      "s",
      loops.socket,
      `${moved}; write from one buffer, copy into one`,
    ],
    "loops.speedup-rpc": ["loops: RPC per operation ÷ ivsh", "ratio", perRound(loops.rpc, loops.ivsh)],
    "loops.speedup-socket": ["loops: Unix socket ÷ ivsh", "ratio", perRound(loops.socket, loops.ivsh)],
    "pingpong.condvar": [
      "CondVar ping-pong round trip",
      "ns",
      pingPong.condvar,
      `mean of ${data.plan.lockPairs} round trips per round`,
    ],
    "pingpong.socket": [
      "Unix-socket ping-pong round trip",
      "ns",
      pingPong.socket,
      "8-byte messages, the same two processes",
    ],
    "pingpong.ratio": [
      "ping-pong: CondVar ÷ Unix socket",
      "ratio",
      perRound(pingPong.condvar, pingPong.socket),
    ],
    "wake.condvar": [
      "parked wake-up, CondVar notify",
      "ns",
      wakes.condvar,
      "waker's stamp → waiter running with the lock",
    ],
    "wake.socket": [
      "parked wake-up, one Unix-socket message",
      "ns",
      wakes.socket,
      "sender's stamp → idle receiver's callback",
    ],
    "wake.ratio": [
      "parked wake-up p50: CondVar ÷ Unix socket",
      "ratio",
      wakeRatios,
      "per round, median ÷ median",
    ],
  };
  return {
    id: "condvar",
    title: "Condvar hand-offs (Fig. 4a, continued)",
    about:
      "The report's Fig. 1 / Fig. 2 loops between two processes (acquire, check the flag, copy a chunk, notify " +
      "or wait, release; one reused buffer per side), then between one pair of processes a CondVar ping-pong " +
      "and a parked wake-up (the waiter idle 3 ms first), each next to the same over a Unix socket in the same run.",
    results: [...rows(table, SUMMARY_ONLY), ...acrossVmRows(data)],
  };
}

/** Ratios, and every wake-up, are shown by their summary: the JSON's raw has the samples. */
const SUMMARY_ONLY = [
  "loops.speedup-rpc",
  "loops.speedup-socket",
  "pingpong.ratio",
  "wake.condvar",
  "wake.socket",
  "wake.ratio",
];
