/**
 * The condvar hand-offs as result rows (Fig. 4a, continued): the report's loops three ways, ping-pong and
 * parked wake-ups next to a Unix socket between the same two processes. Ratios are taken per round.
 */
import { formatBytes } from "../units.ts";
import { LOOP_AREA_BYTES } from "./condvar-bench.ts";
import type { BenchResult } from "./report.ts";
import { perRound, type Section, summaryOf } from "./results.ts";
import type { SuiteData } from "./suite.ts";

/** ivsh loop time ÷ `mode` loop time would be a slowdown; these are speed-ups: mode ÷ ivsh, per round. */
export function loopSpeedups(data: SuiteData, versus: "rpc" | "socket"): number[] {
  return perRound(data.condvar.loops[versus], data.condvar.loops.ivsh);
}

export function pingPongRatios(data: SuiteData): number[] {
  return perRound(data.condvar.pingPong.condvar, data.condvar.pingPong.socket);
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
    ],
  };
}
