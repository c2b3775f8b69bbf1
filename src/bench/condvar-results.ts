/**
 * The condvar hand-offs as result rows (Fig. 4a, continued): the report's loops three ways, ping-pong and
 * parked wake-ups next to a Unix socket between the same two processes. Ratios are taken per round.
 */
import { formatBytes } from "../units.ts";
import { LOOP_AREA_BYTES } from "./condvar-bench.ts";
import type { BenchResult, ResultUnit, Section } from "./report.ts";
import { perRound, summaryOf } from "./results.ts";
import type { SuiteData } from "./suite-data.ts";

/** ivsh loop time ÷ `mode` loop time would be a slowdown; these are speed-ups: mode ÷ ivsh, per round. */
export function loopSpeedups(data: SuiteData, versus: "rpc" | "socket"): number[] {
  return perRound(data.condvar.loops[versus], data.condvar.loops.ivsh);
}

export function pingPongRatios(data: SuiteData): number[] {
  return perRound(data.condvar.pingPong.condvar, data.condvar.pingPong.socket);
}

/** `--vm`: the same hand-offs between a host process and a guest one, next to the VM's network. */
function acrossVmRows(data: SuiteData): BenchResult[] {
  const { loops, pingPong, wakeRoundTrips } = data.condvarVm;
  if (loops.ivsh.length === 0) return [];
  const moved = `${formatBytes(data.plan.vmBytes)} guest→host in ${formatBytes(LOOP_AREA_BYTES - 1)} chunks`;
  const network = "the guest's TCP through QEMU's user-mode NIC and socat to a Unix socket";
  const row = (
    id: string,
    label: string,
    unit: ResultUnit,
    values: number[],
    note?: string,
  ): BenchResult => ({
    id: `vm.${id}`,
    label,
    unit,
    samples: summaryOf(values),
    values,
    ...(note ? { note } : {}),
  });
  return [
    row("loops.ivsh", "VM: report's loops, ivsh CondVar", "s", loops.ivsh, `${moved}; reader on the host`),
    row("loops.rpc", "VM: report's loops, RPC per operation", "s", loops.rpc, moved),
    row("loops.socket", "VM: the same chunks over the VM's network", "s", loops.socket, network),
    row("loops.speedup-rpc", "VM loops: RPC per operation ÷ ivsh", "ratio", perRound(loops.rpc, loops.ivsh)),
    row("loops.speedup-socket", "VM loops: VM network ÷ ivsh", "ratio", perRound(loops.socket, loops.ivsh)),
    row("pingpong.condvar", "VM: CondVar ping-pong round trip", "ns", pingPong.condvar, "host ↔ guest"),
    row("pingpong.socket", "VM: ping-pong over the VM's network", "ns", pingPong.socket, network),
    row(
      "pingpong.ratio",
      "VM ping-pong: CondVar ÷ VM network",
      "ratio",
      perRound(pingPong.condvar, pingPong.socket),
    ),
    row(
      "wake.condvar",
      "VM: parked round trip, CondVar (a wake-up each way)",
      "ns",
      wakeRoundTrips.condvar,
      "host notifies the idle guest, the guest answers; both park through the arbiter",
    ),
    row("wake.socket", "VM: parked round trip over the VM's network", "ns", wakeRoundTrips.socket, network),
    row(
      "request.handover",
      "VM: a guest's status request, connection handed over",
      "ns",
      data.guestRequests.handover,
      "guest TCP → QEMU → the arbiter, which adopted the socket from the bridge",
    ),
    row(
      "request.relay",
      "VM: a guest's status request, bridge relaying",
      "ns",
      data.guestRequests.relay,
      "IVSH_BRIDGE=relay: guest TCP → QEMU → a bridge process per connection → the arbiter",
    ),
  ];
}

export function condvarSection(data: SuiteData): Section {
  const { loops, pingPong, wakes } = data.condvar;
  const moved = `${formatBytes(data.plan.bytes)} in ${formatBytes(LOOP_AREA_BYTES - 1)} chunks`;
  const loopRow = (mode: "ivsh" | "rpc" | "socket", label: string, note: string): BenchResult => ({
    id: `loops.${mode}`,
    label,
    unit: "s",
    samples: summaryOf(loops[mode]),
    values: loops[mode],
    note,
  });
  return {
    id: "condvar",
    title: "Condvar hand-offs (Fig. 4a, continued)",
    about:
      "The report's Fig. 1 / Fig. 2 loops between two processes (acquire, check the flag, copy a chunk, notify " +
      "or wait, release; one reused buffer per side), then between one pair of processes a CondVar ping-pong " +
      "and a parked wake-up (the waiter idle 3 ms first), each next to the same over a Unix socket in the same run.",
    results: [
      loopRow("ivsh", "report's loops, ivsh CondVar", `${moved}; spin, then futex or arbiter park`),
      loopRow(
        "rpc",
        "report's loops, RPC per operation (the report's design)",
        `${moved}; an arbiter round trip per acquire, release, wait, notify`,
      ),
      loopRow(
        "socket",
        "the same chunks over a Unix socket",
        `${moved}; write from one buffer, copy into one`,
      ),
      {
        id: "loops.speedup-rpc",
        label: "loops: RPC per operation ÷ ivsh",
        unit: "ratio",
        samples: summaryOf(loopSpeedups(data, "rpc")),
      },
      {
        id: "loops.speedup-socket",
        label: "loops: Unix socket ÷ ivsh",
        unit: "ratio",
        samples: summaryOf(loopSpeedups(data, "socket")),
      },
      {
        id: "pingpong.condvar",
        label: "CondVar ping-pong round trip",
        unit: "ns",
        samples: summaryOf(pingPong.condvar),
        values: pingPong.condvar,
        note: `mean of ${data.plan.lockPairs} round trips per round`,
      },
      {
        id: "pingpong.socket",
        label: "Unix-socket ping-pong round trip",
        unit: "ns",
        samples: summaryOf(pingPong.socket),
        values: pingPong.socket,
        note: "8-byte messages, the same two processes",
      },
      {
        id: "pingpong.ratio",
        label: "ping-pong: CondVar ÷ Unix socket",
        unit: "ratio",
        samples: summaryOf(pingPongRatios(data)),
      },
      {
        id: "wake.condvar",
        label: "parked wake-up, CondVar notify",
        unit: "ns",
        samples: summaryOf(wakes.condvar),
        note: "waker's stamp → waiter running with the lock",
      },
      {
        id: "wake.socket",
        label: "parked wake-up, one Unix-socket message",
        unit: "ns",
        samples: summaryOf(wakes.socket),
        note: "sender's stamp → idle receiver's callback",
      },
      {
        id: "wake.ratio",
        label: "parked wake-up p50: CondVar ÷ Unix socket",
        unit: "ratio",
        samples: summaryOf(data.condvar.wakeRatios),
        note: "per round, median ÷ median",
      },
      ...acrossVmRows(data),
    ],
  };
}
