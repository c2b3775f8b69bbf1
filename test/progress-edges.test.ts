/**
 * Edges of the progress line (src/commands/_progress.ts) that test/progress-lines.test.ts and
 * test/transfer-progress.test.ts leave open (mutation round 18): which mode --quiet and --progress give on
 * a terminal and off one, a TERM=dumb terminal's line blanked with spaces, narrow terminals (no bar below
 * ten columns of room, the label cut to no less than 16 characters, a line never as wide as the terminal),
 * a stalled transfer's ETA, and --json's seconds.
 */
import { expect, test } from "bun:test";
import { summaryJson, summaryLine } from "../src/commands/_progress.ts";
import { FIXTURES } from "./helpers/paths.ts";
import { spawnFixture } from "./helpers/processes.ts";
import { testWithTool } from "./helpers/tools.ts";

const MIB = 1 << 20;

async function drawn(config: Record<string, unknown>, term = "xterm"): Promise<string> {
  const fixture = spawnFixture("progress-lines", config, { TERM: term });
  expect(await fixture.exit()).toBe(0);
  return fixture.stderr;
}

async function modeOffTerminal(flags: Record<string, boolean>): Promise<Record<string, unknown>> {
  const fixture = spawnFixture("progress-mode", { flags });
  expect(await fixture.exit()).toBe(0);
  return JSON.parse(fixture.events.text.trim());
}

test("--quiet with --progress is a usage error naming both; off a terminal --progress is plain lines, else none", async () => {
  expect(await modeOffTerminal({ quiet: true, progress: true })).toMatchObject({
    usage: "UsageError",
    error:
      "Failed to use --quiet and --progress together since one turns progress off and the other on: pass one of them",
  });
  expect(await modeOffTerminal({ progress: true })).toMatchObject({ mode: "plain" });
  expect(await modeOffTerminal({})).toMatchObject({ mode: "off" });
  expect(await modeOffTerminal({ quiet: true })).toMatchObject({ mode: "off" });
});

testWithTool(
  "script",
  "on a terminal, --quiet turns the progress line off; without it, it is drawn",
  async () => {
    const onTerminal = async (flags: Record<string, boolean>) => {
      const command = `'${process.execPath}' '${FIXTURES}/progress-mode.ts' '${JSON.stringify({ flags })}'`;
      const terminal = Bun.spawn(["script", "-qec", command, "/dev/null"], {
        stdout: "pipe",
        stderr: "pipe",
      });
      const [code, shown] = await Promise.all([terminal.exited, new Response(terminal.stdout).text()]);
      expect(code).toBe(0);
      return JSON.parse(shown.trim()).mode;
    };
    expect(await onTerminal({ quiet: true })).toBe("off");
    expect(await onTerminal({})).toBe("terminal");
  },
);

test("on a TERM=dumb terminal each line is blanked with as many spaces as it had, then redrawn", async () => {
  const steps = [["update", 0, 0, 100 * MIB], ["update", 2000, 50 * MIB, 100 * MIB], ["done"]];
  const shown = await drawn({ label: "recv a", mode: "terminal", steps }, "dumb");
  const first = "recv a: [--------------] 0% 0 B / 100.0 MiB";
  const second = "recv a: [#######-------] 50% 50.0 MiB / 100.0 MiB 26.2 MB/s ETA 0:02";
  const blank = (line: string) => `\r${" ".repeat(line.length)}\r`;
  expect(shown).toBe(`\r\r${first}${blank(first)}${second}${blank(second)}`);
});

test("a terminal that leaves a bar less than ten columns shows none; one of 80 shows a bar", async () => {
  const steps = [["update", 0, 0, 100 * MIB]];
  expect(await drawn({ label: "recv a", mode: "terminal", columns: 70, steps })).toBe(
    "\r\x1b[2Krecv a: 0% 0 B / 100.0 MiB",
  );
  expect(await drawn({ label: "recv a", mode: "terminal", columns: 80, steps })).toBe(
    "\r\x1b[2Krecv a: [--------------] 0% 0 B / 100.0 MiB",
  );
});

test("a long label keeps its verb and loses its start, down to 16 characters; then the line is cut", async () => {
  const label = "send /a/very/long/path/to/the/file.iso";
  const steps = [["update", 0, 0, 100 * MIB]];
  expect(await drawn({ label, mode: "terminal", columns: 40, steps })).toBe(
    "\r\x1b[2Ksend …/the/file.iso: 0% 0 B / 100.0 MiB",
  );
  expect(await drawn({ label, mode: "terminal", columns: 30, steps })).toBe(
    "\r\x1b[2Ksend …e/file.iso: 0% 0 B / 1…",
  );
});

test("a line exactly as wide as the terminal is cut (the last column would wrap it)", async () => {
  const steps = [["update", 0, 0, 100 * MIB]];
  // "recv a: 0% 0 B / 100.0 MiB" is 26 characters.
  expect(await drawn({ label: "recv a", mode: "terminal", columns: 27, steps })).toBe(
    "\r\x1b[2Krecv a: 0% 0 B / 100.0 MiB",
  );
  expect(await drawn({ label: "recv a", mode: "terminal", columns: 26, steps })).toBe(
    "\r\x1b[2Krecv a: 0% 0 B / 100.0 M…",
  );
});

test("a stalled transfer (no byte in two seconds) shows its rate, 0.0 kB/s, and no ETA", async () => {
  const steps = [
    ["update", 0, MIB, 100 * MIB],
    ["update", 2000, MIB, 100 * MIB],
  ];
  expect(await drawn({ label: "recv a", mode: "plain", steps })).toBe(
    "recv a: 1% 1.00 MiB / 100.0 MiB\nrecv a: 1% 1.00 MiB / 100.0 MiB 0.0 kB/s\n",
  );
});

test("--json's seconds are to the microsecond", () => {
  const result = { bytes: 1000, records: 1, digest: 1n, seconds: 0.123456789, chunkBytes: 4096, depth: 4 };
  expect(summaryJson("send", "c", "f", result).seconds).toBe(0.123457);
});

test("--json's summary carries the warnings stderr gives after the transfer, which a script must see too", () => {
  const result = { bytes: 1000, records: 1, digest: 1n, seconds: 1, chunkBytes: 4096, depth: 4 };
  // None: an empty list, so a script reads one shape either way.
  expect(summaryJson("recv", "c", "f", result).warnings).toEqual([]);
  // Before: no field; FILE.partial left, the old file, blocked the next `recv --out f` unseen by the script.
  const left = "f.partial is the file f replaced, not the received copy (that is f): ...: delete it yourself";
  const held = "this receiver's ring and hold on channel 'c' were not given back (...): ...";
  expect(summaryJson("recv", "c", "f", { ...result, leftHeld: held }, [left]).warnings).toEqual([left, held]);
});

test("a sender's ring smaller than asked is said in --json (chunkBytesAsked) and the summary line; absent otherwise", () => {
  const result = { bytes: 1000, records: 1, digest: 1n, seconds: 1, chunkBytes: 65536, depth: 8 };
  expect(summaryJson("send", "c", "f", result)).not.toHaveProperty("chunkBytesAsked");
  expect(summaryLine("sent", result)).not.toContain("no room");
  const shrunk = { ...result, ringShrunk: { from: 262144, room: "the region", flag: "--size" } };
  expect(summaryJson("send", "c", "f", shrunk)).toMatchObject({ chunkBytes: 65536, chunkBytesAsked: 262144 });
  expect(summaryLine("sent", shrunk)).toContain(
    "1 chunk of up to 64.0 KiB (not 256.0 KiB: the region had no room for more), digest",
  );
});
