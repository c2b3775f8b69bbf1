/** From a run's samples to rows, ratios, goals, the markdown and the figures, on made-up samples. */
import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeFigures } from "../../src/bench/figures.ts";
import { evaluateGoals, renderGoals } from "../../src/bench/goals.ts";
import { buildReport, renderMarkdown, reportSections } from "../../src/bench/output.ts";
import { benchPlan, regionBytesFor, rotate } from "../../src/bench/plan.ts";
import { formatValue } from "../../src/bench/report.ts";
import {
  endToEndSection,
  ivshVersus,
  lockShares,
  perRound,
  sweepSection,
  transferSection,
} from "../../src/bench/results.ts";
import { summarize } from "../../src/bench/stats.ts";
import type { SuiteData } from "../../src/bench/suite-data.ts";
import { condvarSection, lockSection } from "../../src/bench/sync-results.ts";
import { wakeRatio } from "../../src/bench/sync-rounds.ts";
import { failure } from "../../src/errors.ts";
import { VERSION } from "../../src/version.ts";
import { allElements, parseXml } from "./xml.ts";

const MiB = 1024 * 1024;
const plan = benchPlan({ quick: true, vm: false });
const bytes = plan.bytes;
const three = (value: number) => [value, value, value];
/** The goals of a run, judged on its report's rows. */
/** What buildReport needs besides the samples. */
const runInfo = { command: "ivsh bench --quick", startedAt: new Date(0), seconds: 1, charts: [] };
const goalsOf = (data: SuiteData) =>
  evaluateGoals(
    data.plan,
    reportSections(data).flatMap((section) => section.results),
  );

/** ivsh 2× the Bun socket, 53.7% of memcpy, 150 ns per lock pair, 40 µs hand-offs. */
function sampleData(): SuiteData {
  const transfer = (label: string, seconds: number) => ({ label, seconds: three(seconds), bytes });
  return {
    plan,
    memcpyRates: three(10e9),
    memcpyInCache: { bytes: MiB, copiesPerSample: 256, rate: summarize([30e9, 31e9]) },
    digest: {
      path: "native AVX2 copy+hash (build/native)",
      rates: {
        copy: three(20e9),
        hash: three(30e9),
        hashNative: three(40e9),
        twoPasses: three(12e9),
        onePass: [],
      },
    },
    transfers: {
      ivsh: transfer("ivsh", bytes / 5e9),
      "ivsh-disk": transfer("ivsh disk", bytes / 4e9),
      "unix-bun": transfer("Unix socket (Bun)", bytes / 2.5e9),
      "unix-socat": {
        label: "Unix socket (socat)",
        seconds: [],
        bytes,
        unavailable: "socat is not installed",
      },
      "tcp-bun": transfer("TCP", bytes / 2e9),
    },
    endToEnd: {
      "ivsh-null": transfer("ivsh → /dev/null", 0.1),
      "socat-null": transfer("socat → /dev/null", 0.3),
      dd: transfer("dd", 0.08),
      "ivsh-file": transfer("ivsh → file", 0.5),
      "socat-file": { label: "socat → file", seconds: [], bytes, unavailable: "socat is not installed" },
      "ivsh-small": { label: "ivsh 1 KiB", seconds: three(0.015), bytes: 1024 },
      "socat-small": { label: "socat 1 KiB", seconds: three(0.006), bytes: 1024 },
    },
    endToEndBinary: "dist/ivsh",
    sweep: plan.blockSizes.map((block) => ({
      block,
      seconds: three(block === 4 * MiB ? 0.1 : 0.2),
      requests: three(0).map(() => ({ wait: 3, wake: 4, alloc: 1 })),
    })),
    locks: { fast: three(150), try: three(60), rpc: three(80_000) },
    handoff: {
      parked: { latenciesNs: [30_000, 40_000, 50_000], unparked: 1, offsetsNs: [] },
      spin: { latenciesNs: [200, 300, 400], unparked: 0, offsetsNs: [100, -100, 50] },
      floor: { oneWayNs: [10_000, 20_000], roundTripsNs: [30_000], relayNs: [25_000, 35_000] },
    },
    condvar: {
      loops: { ivsh: three(0.5), rpc: three(2), socket: three(0.6) },
      pingPong: { condvar: three(10_000), socket: three(30_000) },
      wakes: { condvar: [10_000, 12_000], socket: [8_000, 9_000] },
      wakeRatios: three(1.25),
    },
    condvarVm: {
      loops: { ivsh: three(1), rpc: three(8), socket: three(4) },
      pingPong: { condvar: three(200_000), socket: three(900_000) },
      wakeRoundTrips: { condvar: [2_000_000, 3_000_000], socket: [1_000_000, 1_500_000] },
    },
    guestRequests: { handover: [500_000, 600_000], relay: [700_000, 800_000] },
    access: [
      {
        id: "access.anonymous",
        label: "anonymous",
        read: three(15e9),
        write: three(12e9),
        latency: three(90),
      },
    ],
    notes: ["a note"],
    failures: [],
  };
}

describe("condvar hand-off goals", () => {
  test("loops 4× RPC and 1.2× socket, ping-pong 1/3 of a socket, wake-up 1.25×: all four pass", () => {
    const goals = goalsOf(sampleData());
    const byId = (id: string) => goals.find((goal) => goal.id === id)!;
    expect(byId("loops-vs-rpc")).toMatchObject({ value: 4, pass: true });
    expect(byId("loops-vs-socket").value).toBeCloseTo(1.2);
    expect(byId("pingpong-vs-socket").value).toBeCloseTo(1 / 3);
    expect(byId("wake-vs-socket")).toMatchObject({ value: 1.25, pass: true });
  });

  test("a round's wake-up ratio is median ÷ median, also of an even count of wake-ups", () => {
    // Medians 2.5 µs and 1 µs; the upper middle samples (3 µs, 1 µs) would give 3.
    const woken = {
      event: "wakes",
      condvarWakeNs: [4000, 1000, 3000, 2000],
      socketWakeNs: [1000, 1000, 1000, 1000],
    };
    expect(wakeRatio(woken)).toBe(2.5);
  });

  test("a wake-up ratio over 1.5 is a miss with its gap", () => {
    const data = sampleData();
    data.condvar.wakeRatios.splice(0, 3, 3, 3, 3);
    expect(goalsOf(data).find((goal) => goal.id === "wake-vs-socket")).toMatchObject({
      pass: false,
      gap: "2.00× over",
    });
  });
});

describe("per-round ratios", () => {
  test("pair rounds by index and ignore rounds only one side has", () => {
    expect(perRound([4, 6, 8], [2, 3])).toEqual([2, 2]);
  });

  test("ivsh ÷ socket and the lock share use the report's workload", () => {
    const data = sampleData();
    expect(ivshVersus(data, "unix-bun").map((ratio) => ratio.toFixed(6))).toEqual(
      three(2).map((r) => r.toFixed(6)),
    );
    expect(ivshVersus(data, "unix-socat")).toEqual([]);
    // 20 000 × 150 ns = 3 ms over 0.1 s × (2 GiB / 256 MiB) = 0.8 s.
    for (const share of lockShares(data, "fast")) expect(share).toBeCloseTo(0.003 / 0.8, 9);
  });

  test("every throughput row carries its per-round fraction of memcpy", () => {
    const rows = transferSection(sampleData()).results;
    const ivsh = rows.find((row) => row.id === "transfer.ivsh");
    expect(ivsh?.ratioSamples?.median).toBeCloseTo(0.5, 9);
    expect(rows.find((row) => row.id === "transfer.unix-socat")?.note).toBe("socat is not installed");
  });

  test("a VM transfer, from rounds of its own, is compared to memcpy by medians, not paired by round", () => {
    const data = sampleData();
    const vmBytes = 16 * MiB;
    // VM rates 4, 1, 2 GB/s against memcpy 10, 20, 40 GB/s: paired by index 40%, 5%, 5% (median 5%); the
    // VM's round i is not the suite's, so its fraction is median ÷ median, 2 ÷ 20 = 10%.
    data.memcpyRates.splice(0, 3, 10e9, 20e9, 40e9);
    data.transfers["vm-guest-to-host"] = {
      label: "VM guest → host (ivsh)",
      seconds: [4e9, 1e9, 2e9].map((rate) => vmBytes / rate),
      bytes: vmBytes,
      ownRounds: true,
    };
    const markdown = renderMarkdown(buildReport(data, runInfo));
    const line = markdown.split("\n").find((text) => text.startsWith("| VM guest → host (ivsh)"));
    expect(line).toContain("10.0% of memcpy 256 MiB");
  });
});

describe("rows and notes, the right way round and in their units", () => {
  test("ivsh ÷ memcpy is ivsh's rate over memcpy's, per round (5 GB/s of 10 GB/s: 0.5, not 2)", () => {
    const data = sampleData();
    data.memcpyRates.splice(0, 3, 10e9, 20e9, 25e9);
    const rows = transferSection(data).results;
    expect(rows.find((row) => row.id === "ratio.ivsh-memcpy")?.values).toEqual([0.5, 0.25, 0.2]);
  });

  test("a transfer's note gives its median time, not its mean", () => {
    const data = sampleData();
    data.transfers.ivsh!.seconds.splice(0, 3, 0.1, 0.2, 0.6);
    const rows = transferSection(data).results;
    expect(rows.find((row) => row.id === "transfer.ivsh")?.note).toBe("median 0.200 s for 256.0 MiB");
  });

  test("a sweep row: the plan's bytes per second, its median time and wait+wake RPCs in the note", () => {
    const row = sweepSection(sampleData()).results.find((result) => result.id === `sweep.${4 * MiB}`);
    expect(row?.samples?.median).toBeCloseTo(bytes / 0.1, 3);
    // 3 waits + 4 wakes per transfer; the alloc is not synchronisation.
    expect(row?.note).toBe("0.100 s; ring 32 MiB; 7 wait+wake RPCs");
  });

  test("an end-to-end row's rate is in decimal GB/s (256 MiB in 0.1 s: 2.68, not 2.50 GiB/s)", () => {
    const rows = endToEndSection(sampleData()).results;
    expect(rows.find((row) => row.id === "e2e.ivsh-null")?.note).toBe("256.0 MiB, 2.68 GB/s");
  });
});

describe("Fig. 4a and condvar rows", () => {
  const lockRows = lockSection(sampleData()).results;
  const lockRow = (id: string) => lockRows.find((result) => result.id === id);

  test("the RPC design's lock share is its own: 20 000 × 80 µs = 1.6 s over 0.8 s", () => {
    for (const share of lockRow("lock-share.rpc")?.values ?? []) expect(share).toBeCloseTo(2, 9);
    expect(lockRow("lock-share.rpc")?.values).toHaveLength(3);
  });

  test("the synchronisation RPCs of one transfer at 4 MiB: waits + wakes, and all incl. setup in the note", () => {
    const rpcs = lockRow("transfer-rpcs.sync");
    expect(rpcs?.values).toEqual([7, 7, 7]);
    expect(rpcs?.note).toBe("sender and receiver together, for 64 chunks; all RPCs incl. setup: median 8");
  });

  test("the shared clocks' offset is a median of absolute differences", () => {
    // Offsets 100, -100, 50 ns: |·| gives a median of 100; signed they would give 50.
    expect(lockRow("handoff.parked")?.note).toContain("differ by a median 100 ns");
  });

  test("across a VM: speedups are the other's time ÷ ivsh's, ping-pong CondVar ÷ network", () => {
    const vmRows = condvarSection(sampleData()).results;
    const median = (id: string) => vmRows.find((result) => result.id === id)?.samples?.median;
    expect(median("vm.loops.speedup-rpc")).toBeCloseTo(8, 9);
    expect(median("vm.loops.speedup-socket")).toBeCloseTo(4, 9);
    expect(median("vm.pingpong.ratio")).toBeCloseTo(2 / 9, 9);
  });
});

describe("goals", () => {
  const goals = new Map(goalsOf(sampleData()).map((goal) => [goal.id, goal]));

  test("are judged on medians, with the gap of a miss", () => {
    expect(goals.get("transfer-vs-unix-bun")).toMatchObject({ pass: false, gap: "needs 1.50× more" });
    expect(goals.get("transfer-vs-unix-socat")?.pass).toBeUndefined();
    expect(goals.get("transfer-vs-memcpy")?.pass).toBe(true);
    expect(goals.get("uncontended-lock")?.pass).toBe(true);
    expect(goals.get("handoff-p50")).toMatchObject({ pass: false, gap: "1.33× over" });
    expect(goals.get("lock-share")?.pass).toBe(true);
  });

  test("end to end: speedups and slowdowns per round against socat and dd", () => {
    // socat 0.3 s ÷ ivsh 0.1 s = 3×; ivsh 0.1 s ÷ dd 0.08 s = 1.25×; 1 KiB 15 ms ÷ 6 ms = 2.5×.
    expect(goals.get("e2e-null-vs-socat")).toMatchObject({ pass: true, measured: "3.00×" });
    expect(goals.get("e2e-null-vs-dd")).toMatchObject({ pass: true, measured: "1.25×" });
    expect(goals.get("e2e-file-vs-socat")).toMatchObject({ measured: "n/a" });
    expect(goals.get("e2e-small-vs-socat")).toMatchObject({ pass: false, gap: "1.25× over" });
    const rows = endToEndSection(sampleData()).results;
    expect(rows.find((row) => row.id === "e2e.socat-file")?.note).toBe("socat is not installed");
    expect(rows.find((row) => row.id === "e2e.speedup.null-socat")?.samples?.median).toBeCloseTo(3);
  });

  test("render as PASS, MISS and not measured", () => {
    const table = renderGoals([...goals.values()]);
    expect(table).toContain("PASS");
    expect(table).toContain("MISS (needs 1.50× more)");
    expect(table).toContain("not measured");
  });
});

describe("outputs", () => {
  const dir = mkdtempSync(join(tmpdir(), "ivsh-results-test-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("the markdown has the machine, every section, the goals and the notes", () => {
    const report = buildReport(sampleData(), {
      command: "ivsh bench --quick",
      startedAt: new Date(0),
      seconds: 1,
      charts: [],
    });
    const markdown = renderMarkdown(report);
    for (const text of [
      "# ivsh bench",
      "- CPU:",
      "## Fig. 3a",
      "## Fig. 3b",
      "## Fig. 4a",
      "## Fig. 4b",
      "## The digest",
      "copy and digest in one pass (native helper)",
      "channel digest:",
      `- ivsh ${VERSION}; Bun ${Bun.version}`,
      "## Goals",
      "- a note",
    ])
      expect(markdown).toContain(text);
    expect(markdown).toContain("50.0% of memcpy 256 MiB");
    expect(JSON.parse(JSON.stringify(report)).raw.locks.fast).toEqual(three(150));
    // The build that ran: two builds' results told apart.
    expect(report.machine.ivsh).toBe(VERSION);
    expect(JSON.parse(JSON.stringify(report)).failures).toEqual([]);
  });

  test("a part that failed (--vm's VMs) is in the JSON by its message, not as an empty error", () => {
    const data = {
      ...sampleData(),
      failures: [failure("InvalidArgument", "boot a VM", "the guest gave no result")],
    };
    const report = JSON.parse(JSON.stringify(buildReport(data, runInfo)));
    expect(report.failures).toEqual(["Failed to boot a VM since the guest gave no result"]);
    expect(report.raw.failures).toBeUndefined();
  });

  test("every figure is an SVG document", async () => {
    const names = await writeFigures(dir, sampleData());
    expect(names).toHaveLength(6);
    for (const name of names) expect(parseXml(readFileSync(join(dir, name), "utf8")).name).toBe("svg");
  });

  /** A figure's bar labels by series, in category order ("n/a" for a missing value), and its bars. */
  async function barsOf(name: string) {
    await writeFigures(dir, sampleData());
    const root = parseXml(readFileSync(join(dir, name), "utf8"));
    const series = allElements(root).filter((element) => element.attributes.has("data-series"));
    const labels = new Map(
      series.map((group) => [
        group.attributes.get("data-series"),
        group.children.filter((child) => child.name === "text").map((child) => child.text),
      ]),
    );
    return { labels, groups: series };
  }

  test("the figures show the tables' medians in their axes' units: GB/s, ms, µs, ns", async () => {
    expect((await barsOf("fig3b-methods.svg")).labels.get("median of rounds")).toEqual([
      "5",
      "4",
      "2.5",
      "n/a",
      "2",
      "10",
    ]);
    // 20 000 pairs × 150 ns, 60 ns, 80 µs; the transfer 0.1 s × 2 GiB ÷ 256 MiB.
    expect((await barsOf("fig4a-locks.svg")).labels.get("median of rounds")).toEqual([
      "3",
      "1.2",
      "1600",
      "800",
    ]);
    const handoff = (await barsOf("fig4a-handoff.svg")).labels;
    expect(handoff.get("p50 (bar: IQR)")).toEqual(["40", "0.3", "15", "30"]);
    expect(handoff.get("p99")).toEqual(["49.8", "0.398", "19.9", "34.9"]);
    expect((await barsOf("fig4b-access.svg")).labels.get("sequential read")).toEqual(["15"]);
    expect((await barsOf("fig4b-latency.svg")).labels.get("median of rounds")).toEqual(["90"]);
  });

  test("an error bar spans the samples' range in the bar's scale", async () => {
    // Parked hand-offs 30, 40, 50 µs: the bar reaches 40, its error bar 30..50, half the bar's height.
    const { groups } = await barsOf("fig4a-handoff.svg");
    const p50 = groups.find((group) => group.attributes.get("data-series") === "p50 (bar: IQR)")!;
    const height = Number(
      p50.children.find((child) => child.attributes.get("class") === "bar")?.attributes.get("height"),
    );
    const path = p50.children
      .find((child) => child.attributes.get("class") === "error-bar")
      ?.attributes.get("d");
    // M(left) low H(right) M(x) low V high M(left) high H(right)
    const [, low, , , , high] = (path?.match(/-?[\d.]+/g) ?? []).map(Number);
    expect(low! - high!).toBeCloseTo(height / 2, 0);
  });
});

describe("plan", () => {
  test("rotate gives every item every position over the rounds", () => {
    expect([0, 1, 2, 3].map((round) => rotate(["a", "b", "c"], round).join(""))).toEqual([
      "abc",
      "bca",
      "cab",
      "abc",
    ]);
  });

  test("the region is a power of two that holds the largest ring", () => {
    const full = benchPlan({ quick: false, vm: false });
    expect(regionBytesFor(full)).toBe(1024 * MiB);
    expect(regionBytesFor(plan)).toBe(256 * MiB);
  });

  test("new units format as ratios, percentages and counts", () => {
    expect(formatValue(3.2468, "ratio")).toBe("3.25×");
    expect(formatValue(0.537, "fraction")).toBe("53.7%");
    expect(formatValue(7, "count")).toBe("7");
  });
});
