/**
 * Fig. 4a as result rows: the cost of an uncontended acquire/release pair three ways, that cost for the
 * report's 20 000 pairs as a share of a 2 GiB transfer at 4 MiB blocks, the synchronisation RPCs such a
 * transfer really sends, and hand-off latencies between two processes with the OS floor for context.
 */
import { formatBytes } from "../units.ts";
import { REPORT_BLOCK, REPORT_BYTES, REPORT_LOCK_PAIRS } from "./plan.ts";
import type { BenchResult, Section } from "./report.ts";
import { type RowSpec, row, rows } from "./report.ts";
import { lockShares } from "./results.ts";
import { summarize } from "./stats.ts";
import type { SuiteData } from "./suite-data.ts";
import { sharedClockResolutionNs } from "./worker-io.ts";

const PAIR_ROWS = [
  ["fast", "ivsh lock()+unlock(), uncontended", "one CAS each, no RPC; awaits the promise lock() returns"],
  ["try", "ivsh tryLock()+unlock(), uncontended", "the same without the promise"],
  [
    "rpc",
    "RPC per operation (the report's design)",
    "acquire = 1 arbiter round trip + CAS, release = CAS + 1 round trip",
  ],
] as const;

function pairRows(data: SuiteData): BenchResult[] {
  const perRound = `per pair, ${data.plan.lockPairs} pairs per round`;
  return PAIR_ROWS.map(([method, label, note]) =>
    row(`lock.${method}`, label, "ns", data.locks[method], `${perRound}; ${note}`),
  );
}

function shareRows(data: SuiteData): BenchResult[] {
  const workload = `${REPORT_LOCK_PAIRS} pairs ÷ ${formatBytes(REPORT_BYTES)} at ${formatBytes(REPORT_BLOCK)} blocks`;
  const note = `${workload}, per round (the report measured ~20% for its RPC design)`;
  return (["fast", "rpc"] as const).map((method) => {
    const label = `lock cost share, ${method === "fast" ? "ivsh fast path" : "RPC per operation"}`;
    return row(`lock-share.${method}`, label, "fraction", lockShares(data, method), note);
  });
}

/** What one transfer at 4 MiB blocks actually sent to the arbiter (the channel is not lock-per-chunk). */
function rpcRows(data: SuiteData): BenchResult[] {
  const point = data.sweep.find((candidate) => candidate.block === REPORT_BLOCK);
  if (!point || point.requests.length === 0) return [];
  const sync = point.requests.map((requests) => (requests.wait ?? 0) + (requests.wake ?? 0));
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
  const table: Record<string, RowSpec> = {
    "handoff.parked": [
      "hand-off, waiter parked in the arbiter",
      "ns",
      parked.latenciesNs,
      `waker's store → waiter running; WAIT/WAKE via the arbiter (2 socket hops)${dropped}${clock}`,
    ],
    "handoff.spin": [
      "hand-off, waiter spinning (not parked)",
      "ns",
      spin.latenciesNs,
      "half a round trip of a shared-memory ping-pong; burns a core while waiting",
    ],
    "floor.one-way": [
      "OS floor: Unix socket, one hop",
      "ns",
      floor.oneWayNs,
      "busy sender's stamp → idle receiver's callback (one wake-up through the kernel)",
    ],
    "floor.relay": [
      "OS floor: Unix sockets through a relay process",
      "ns",
      floor.relayNs,
      "sender → relay → receiver: two wake-ups, the arbiter's topology without its work",
    ],
  };
  return rows(table, Object.keys(table));
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
    results: [...pairRows(data), ...shareRows(data), ...rpcRows(data), ...handoffRows(data)],
  };
}
