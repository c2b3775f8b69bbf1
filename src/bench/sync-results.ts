/** Fig. 4a and the condvar hand-offs as rows, ratios per round. */
import { formatBytes } from "../units.ts";
import { REPORT_BLOCK, REPORT_BYTES, REPORT_LOCK_PAIRS } from "./plan.ts";
import { type BenchResult, row, rows, type Section } from "./report.ts";
import { lockShares, perRound, reportPoint, syncRequests } from "./results.ts";
import { summarize } from "./stats.ts";
import type { SuiteData } from "./suite-data.ts";
import { LOOP_AREA_BYTES } from "./sync-rounds.ts";
import { sharedClockResolutionNs } from "./worker-io.ts";

/** Uncontended pairs three ways, and two of them for the report's workload as a share of its transfer. */
function pairRows(data: SuiteData): BenchResult[] {
  const pairs = `per pair, ${data.plan.lockPairs} pairs per round`;
  const workload = `${REPORT_LOCK_PAIRS} pairs ÷ ${formatBytes(REPORT_BYTES)} at ${formatBytes(REPORT_BLOCK)} blocks`;
  const share = `${workload}, per round (the report measured ~20% for its RPC design)`;
  const table = {
    "lock.fast": ["ivsh lock()+unlock(), uncontended", "ns", data.locks.fast],
    "lock.try": ["ivsh tryLock()+unlock(), uncontended", "ns", data.locks.try],
    "lock.rpc": ["RPC per operation (the report's design)", "ns", data.locks.rpc],
    "lock-share.fast": ["lock cost share, ivsh fast path", "fraction", lockShares(data, "fast")],
    "lock-share.rpc": ["lock cost share, RPC per operation", "fraction", lockShares(data, "rpc")],
  } as const;
  return rows(table, {
    "lock.fast": `${pairs}; one CAS each, no RPC; awaits the promise lock() returns`,
    "lock.try": `${pairs}; the same without the promise`,
    "lock.rpc": `${pairs}; acquire = 1 arbiter round trip + CAS, release = CAS + 1 round trip`,
    "lock-share.fast": share,
    "lock-share.rpc": share,
  });
}

/** What one transfer at 4 MiB blocks actually sent to the arbiter (the channel is not lock-per-chunk). */
function rpcRows(data: SuiteData): BenchResult[] {
  const point = reportPoint(data);
  if (!point || point.requests.length === 0) return [];
  const sync = syncRequests(point);
  const all = point.requests.map((requests) =>
    Object.values(requests).reduce((sum, count) => sum + count, 0),
  );
  const chunks = Math.ceil(data.plan.bytes / REPORT_BLOCK);
  const label = `wait+wake RPCs in one ${formatBytes(data.plan.bytes)} transfer at ${formatBytes(REPORT_BLOCK)}`;
  const note = `sender and receiver together, for ${chunks} chunks; all RPCs incl. setup: median ${summarize(all).median}`;
  return [row("transfer-rpcs.sync", label, "count", sync, note)];
}

function handoffRows(data: SuiteData): BenchResult[] {
  const { parked, spin, floor } = data.handoff;
  const offsets = spin.offsetsNs.map(Math.abs);
  const clock =
    offsets.length === 0
      ? ""
      : `; the two processes' shared clocks differ by a median ${summarize(offsets).median.toFixed(0)} ns ` +
        `(their resolution is ${sharedClockResolutionNs().toFixed(0)} ns)`;
  const dropped = parked.unparked ? `; ${parked.unparked} rounds dropped (not parked yet)` : "";
  const table = {
    "handoff.parked": ["hand-off, waiter parked in the arbiter", "ns", parked.latenciesNs],
    "handoff.spin": ["hand-off, waiter spinning (not parked)", "ns", spin.latenciesNs],
    "floor.one-way": ["OS floor: Unix socket, one hop", "ns", floor.oneWayNs],
    "floor.relay": ["OS floor: Unix sockets through a relay process", "ns", floor.relayNs],
  } as const;
  const notes = {
    "handoff.parked": `waker's store → waiter running; WAIT/WAKE via the arbiter (2 socket hops)${dropped}${clock}`,
    "handoff.spin": "half a round trip of a shared-memory ping-pong; burns a core while waiting",
    "floor.one-way": "busy sender's stamp → idle receiver's callback (one wake-up through the kernel)",
    "floor.relay": "sender → relay → receiver: two wake-ups, the arbiter's topology without its work",
  };
  return rows(table, notes, true);
}

export function lockSection(data: SuiteData): Section {
  return {
    id: "fig4a",
    title: "Fig. 4a: locking cost and hand-off latency",
    about:
      "Uncontended pairs on one mutex in one worker process, methods rotated within each round. Lock cost " +
      `share: ${REPORT_LOCK_PAIRS} pairs (the lock operations the report counted for 2 GB at 4 MB blocks) over ` +
      "this run's transfer time at 4 MiB blocks scaled to 2 GiB, per round. Hand-offs between two worker " +
      "processes: the waker stays busy for 1 ms before each hand-off (a running lock holder; the waiter has " +
      "surely parked by then) and sleeps after it; parked, spinning and socket rounds are interleaved.",
    results: [...pairRows(data), ...rpcRows(data), ...handoffRows(data)],
  };
}

/** `--vm`: the same hand-offs between a host process and a guest one, next to the VM's network. */
function acrossVmRows(data: SuiteData): BenchResult[] {
  const { loops, pingPong, wakeRoundTrips: trips } = data.condvarVm;
  if (loops.ivsh.length === 0) return [];
  const moved = `${formatBytes(data.plan.vmBytes)} guest→host in ${formatBytes(LOOP_AREA_BYTES - 1)} chunks`;
  const network = "the guest's TCP through QEMU's user-mode NIC and socat to a Unix socket";
  const { handover, relay } = data.guestRequests;
  const table = {
    "vm.loops.ivsh": ["VM: report's loops, ivsh CondVar", "s", loops.ivsh],
    "vm.loops.rpc": ["VM: report's loops, RPC per operation", "s", loops.rpc],
    "vm.loops.socket": ["VM: the same chunks over the VM's network", "s", loops.socket],
    "vm.loops.speedup-rpc": ["VM loops: RPC per operation ÷ ivsh", "ratio", perRound(loops.rpc, loops.ivsh)],
    "vm.loops.speedup-socket": ["VM loops: VM network ÷ ivsh", "ratio", perRound(loops.socket, loops.ivsh)],
    "vm.pingpong.condvar": ["VM: CondVar ping-pong round trip", "ns", pingPong.condvar],
    "vm.pingpong.socket": ["VM: ping-pong over the VM's network", "ns", pingPong.socket],
    "vm.pingpong.ratio": [
      "VM ping-pong: CondVar ÷ VM network",
      "ratio",
      perRound(pingPong.condvar, pingPong.socket),
    ],
    "vm.wake.condvar": ["VM: parked round trip, CondVar (a wake-up each way)", "ns", trips.condvar],
    "vm.wake.socket": ["VM: parked round trip over the VM's network", "ns", trips.socket],
    "vm.request.handover": ["VM: a guest's status request, connection handed over", "ns", handover],
    "vm.request.relay": ["VM: a guest's status request, bridge relaying", "ns", relay],
  } as const;
  return rows(table, {
    "vm.loops.ivsh": `${moved}; reader on the host`,
    "vm.loops.rpc": moved,
    "vm.loops.socket": network,
    "vm.pingpong.condvar": "host ↔ guest",
    "vm.pingpong.socket": network,
    "vm.wake.condvar": "host notifies the idle guest, the guest answers; both park through the arbiter",
    "vm.wake.socket": network,
    "vm.request.handover": "guest TCP → QEMU → the arbiter, which adopted the socket from the bridge",
    "vm.request.relay": "IVSH_BRIDGE=relay: guest TCP → QEMU → a bridge process per connection → the arbiter",
  });
}

export function condvarSection(data: SuiteData): Section {
  const { loops, pingPong, wakes, wakeRatios } = data.condvar;
  const moved = `${formatBytes(data.plan.bytes)} in ${formatBytes(LOOP_AREA_BYTES - 1)} chunks`;
  const table = {
    "loops.ivsh": ["report's loops, ivsh CondVar", "s", loops.ivsh],
    "loops.rpc": ["report's loops, RPC per operation (the report's design)", "s", loops.rpc],
    "loops.socket": ["the same chunks over a Unix socket", "s", loops.socket],
    "loops.speedup-rpc": ["loops: RPC per operation ÷ ivsh", "ratio", perRound(loops.rpc, loops.ivsh)],
    "loops.speedup-socket": ["loops: Unix socket ÷ ivsh", "ratio", perRound(loops.socket, loops.ivsh)],
    "pingpong.condvar": ["CondVar ping-pong round trip", "ns", pingPong.condvar],
    "pingpong.socket": ["Unix-socket ping-pong round trip", "ns", pingPong.socket],
    "pingpong.ratio": [
      "ping-pong: CondVar ÷ Unix socket",
      "ratio",
      perRound(pingPong.condvar, pingPong.socket),
    ],
    "wake.condvar": ["parked wake-up, CondVar notify", "ns", wakes.condvar],
    "wake.socket": ["parked wake-up, one Unix-socket message", "ns", wakes.socket],
    "wake.ratio": ["parked wake-up p50: CondVar ÷ Unix socket", "ratio", wakeRatios],
  } as const;
  const notes = {
    "loops.ivsh": `${moved}; spin, then futex or arbiter park`,
    "loops.rpc": `${moved}; an arbiter round trip per acquire, release, wait, notify`,
    "loops.socket": `${moved}; write from one buffer, copy into one`,
    "pingpong.condvar": `mean of ${data.plan.lockPairs} round trips per round`,
    "pingpong.socket": "8-byte messages, the same two processes",
    "wake.condvar": "waker's stamp → waiter running with the lock",
    "wake.socket": "sender's stamp → idle receiver's callback",
    "wake.ratio": "per round, median ÷ median",
  };
  // Ratios, and every wake-up, are shown by their summary: the JSON's raw has the samples.
  const summaryOnly = [
    "loops.speedup-rpc",
    "loops.speedup-socket",
    "pingpong.ratio",
    "wake.condvar",
    "wake.socket",
    "wake.ratio",
  ];
  return {
    id: "condvar",
    title: "Condvar hand-offs (Fig. 4a, continued)",
    about:
      "The report's Fig. 1 / Fig. 2 loops between two processes (acquire, check the flag, copy a chunk, notify " +
      "or wait, release; one reused buffer per side), then between one pair of processes a CondVar ping-pong " +
      "and a parked wake-up (the waiter idle 3 ms first), each next to the same over a Unix socket in the same run.",
    results: [...rows(table, notes, summaryOnly), ...acrossVmRows(data)],
  };
}
