/**
 * What a transfer's progress line says (src/commands/_progress.ts), on a clock the fixture sets: the
 * percent and the bar stop at the announced size, the rate counts bytes per second since the first report
 * after the last wait (time spent waiting is no transfer time), the ETA is what is left at that rate in
 * minutes and seconds, and the arbiter's absence replaces what the end waits for only while it waits.
 */
import { expect, test } from "bun:test";
import { summaryLine } from "../src/commands/_progress.ts";
import { spawnFixture } from "./helpers/processes.ts";

const MIB = 1 << 20;

async function drawn(label: string, mode: "plain" | "terminal", steps: unknown[][]): Promise<string> {
  const fixture = spawnFixture("progress-lines", { label, mode, steps }, { TERM: "xterm" });
  expect(await fixture.exit()).toBe(0);
  return fixture.stderr;
}

test("off a terminal: percent, amounts, rate and ETA, a line a second at most", async () => {
  const total = 1000 * MIB;
  const lines = await drawn("send big.iso", "plain", [
    ["update", 0, 0, total],
    ["update", 2000, 4 * MIB, total],
    ["update", 2500, 5 * MIB, total], // within a second of the last line: not drawn
    ["update", 62_000, 1200 * MIB, total], // more than announced: the percent stops at 100, nothing is left
  ]);
  expect(lines.split("\n")).toEqual([
    // The first report: no time has passed to make a rate of.
    "send big.iso: 0% 0 B / 1000.0 MiB",
    // 4 MiB in 2 s is 2 MiB/s; the 996 MiB left take 498 s at that rate.
    "send big.iso: 0% 4.00 MiB / 1000.0 MiB 2.1 MB/s ETA 8:18",
    "send big.iso: 100% 1.17 GiB / 1000.0 MiB 20.3 MB/s ETA 0:00",
    "",
  ]);
});

test("after a wait the rate starts again from the next report; the arbiter's absence is shown only while waiting", async () => {
  const total = 1000 * MIB;
  const lines = await drawn("recv out", "plain", [
    ["update", 0, 0, total],
    ["update", 1000, 2 * MIB, total],
    ["waiting", "for the sender to come back"],
    ["away", "for the arbiter to come back"],
    ["away", null],
    ["update", 60_000, 6 * MIB, total],
    ["update", 61_000, 8 * MIB, total],
    ["away", "for the arbiter, which is not waited for now"],
  ]);
  expect(lines.split("\n")).toEqual([
    "recv out: 0% 0 B / 1000.0 MiB",
    "recv out: 0% 2.00 MiB / 1000.0 MiB 2.1 MB/s ETA 8:19",
    "recv out: waiting for the sender to come back...",
    "recv out: waiting for the arbiter to come back...",
    "recv out: waiting for the sender to come back...",
    // The minute waited is no transfer time: the rate is 2 MiB in the second since, not 8 MiB in 61 s.
    "recv out: 0% 6.00 MiB / 1000.0 MiB",
    "recv out: 0% 8.00 MiB / 1000.0 MiB 2.1 MB/s ETA 8:16",
    "",
  ]);
});

// Found in review: a sender with --timeout waiting for a FIFO's writer (its receiver there) said it would
// give up "when its --timeout 2 s for the other end runs out" while the arbiter was away, and did not.
test("the arbiter's absence names what ends the wait: its --timeout only in a wait for the peer", async () => {
  const away = ["away", "for the arbiter (30 s)", "for the arbiter (30 s, or --timeout)"];
  const lines = await drawn("send f", "plain", [
    ["waiting", "for a receiver", true],
    away,
    ["waiting", "for a program to write to f (a FIFO)", false],
    ["away", null],
    ["waiting", "for the receiver to confirm"],
    away,
  ]);
  expect(lines.split("\n")).toEqual([
    "send f: waiting for a receiver...",
    "send f: waiting for the arbiter (30 s, or --timeout)...",
    "send f: waiting for the arbiter (30 s)...",
    "send f: waiting for a program to write to f (a FIFO)...",
    "send f: waiting for the receiver to confirm...",
    "send f: waiting for the arbiter (30 s)...",
    "",
  ]);
});

test("on a terminal: one line redrawn in place, a rate only after half a second, a bar that stops full", async () => {
  const total = 100 * MIB;
  const shown = await drawn("recv a", "terminal", [
    ["update", 0, 0, total],
    ["update", 200, 10 * MIB, total], // redrawn, but a fifth of a second makes no rate yet
    ["update", 2000, 50 * MIB, total],
    ["update", 4000, 150 * MIB, total],
    ["done"],
  ]);
  // stderr is no terminal here, so no width is reported: 80 columns, a 14-character bar.
  expect(shown.split("\r\x1b[2K")).toEqual([
    "",
    "recv a: [--------------] 0% 0 B / 100.0 MiB",
    "recv a: [#-------------] 10% 10.0 MiB / 100.0 MiB",
    "recv a: [#######-------] 50% 50.0 MiB / 100.0 MiB 26.2 MB/s ETA 0:02",
    "recv a: [##############] 100% 150.0 MiB / 100.0 MiB 39.3 MB/s ETA 0:00",
    "",
  ]);
});

// Found by a trial: a small file sent in 80 µs was summed up "sent 293.0 KiB (300000 bytes) in 0.000 s,
// 3.63 GB/s": a time of nothing, next to a rate that needs one.
test("the summary line of a transfer faster than a millisecond says how long it took, not 0.000 s", () => {
  const result = { bytes: 300_000, records: 1, digest: 1n, seconds: 82.6e-6, chunkBytes: 303_104, depth: 4 };
  expect(summaryLine("sent", result)).toContain("(300000 bytes) in 0.083 ms, 3.63 GB/s, 1 chunk");
  expect(summaryLine("sent", { ...result, seconds: 0.0125 })).toContain(" in 0.013 s, ");
  expect(summaryLine("sent", { ...result, seconds: 2 })).toContain(" in 2.000 s, ");
});

// Found by a trial: a 1-byte file was summed up "sent 1 B (1 bytes)".
test("the summary line of a 1-byte transfer says 1 byte, not 1 bytes", () => {
  const result = { bytes: 1, records: 1, digest: 1n, seconds: 0.001, chunkBytes: 4096, depth: 2 };
  expect(summaryLine("sent", result)).toStartWith("sent 1 B (1 byte) in ");
  expect(summaryLine("sent", { ...result, bytes: 0, records: 0 })).toStartWith("sent 0 B (0 bytes) in ");
});

// Found in trial 30: `(head -c 10M f; sleep 5; …) | ivsh guest send -` showed "recv got.bin: 1.00 MiB" for
// the whole stall on the receiver's terminal, 9.54 MiB having arrived: reports within 100 ms of a drawn line
// were dropped, and none came after them to draw the count.
test("a report too soon to draw is drawn once its time comes, if the stream stalls after it", async () => {
  const lines = await drawn("recv got.bin", "plain", [
    ["update", 0, MIB],
    ["update", 100, 9 * MIB], // within the second: not drawn now
    ["idle", 1000, 3000], // the stream stalls: the line catches up a second after the last one drawn
    ["update", 6000, 10 * MIB],
    ["update", 6100, 11 * MIB], // within the second, and followed by the end: not drawn
    ["done"],
    ["idle", 7000, 1500], // done() cancelled the catch-up: nothing is drawn after it
  ]);
  expect(lines.split("\n")).toEqual([
    "recv got.bin: 1.00 MiB",
    "recv got.bin: 9.00 MiB 8.4 MB/s",
    "recv got.bin: 10.0 MiB 1.6 MB/s",
    "",
  ]);
});

test("reports too soon to draw, one per chunk, make one timer between them, not one each", async () => {
  const steps = Array.from({ length: 200 }, (_, index) => ["update", 1 + index, (index + 1) * MIB]);
  const fixture = spawnFixture("progress-lines", {
    label: "recv got.bin",
    mode: "plain",
    steps: [["update", 0, 0], ...steps, ["idle", 1000, 1500]],
  });
  const { timers } = await fixture.events.next("drawn");
  expect(await fixture.exit()).toBe(0);
  expect({ timers, drawn: (await fixture.stderr).split("\n") }).toEqual({
    timers: 1,
    drawn: ["recv got.bin: 0 B", "recv got.bin: 200.0 MiB 210 MB/s", ""],
  });
});
