import { describe, expect, test } from "bun:test";
import { Child } from "../../src/bench/child.ts";
import {
  checkPiece,
  parseReceiverLog,
  patternChunk,
  type StreamArgs,
  streamArgs,
} from "../../src/bench/stream.ts";
import { flagArgv, nextEvent, numberField, stringField, WorkerFlags } from "../../src/bench/worker-io.ts";
import { runBenchWorker } from "../../src/commands/bench-worker.ts";

describe("stream worker flags", () => {
  const args: StreamArgs = { transport: "tcp", address: "127.0.0.1:0", bytes: 1 << 30, chunk: 1 << 20 };
  const parse = (argv: readonly string[]) => streamArgs(new WorkerFlags("stream-send", argv));

  test("round-trip through argv", () => {
    expect(parse(flagArgv({ ...args }))).toEqual(args);
  });

  test("accepts sizes with units", () => {
    const parsed = parse(["--transport", "unix", "--address", "/s", "--bytes", "2GiB", "--chunk", "1MiB"]);
    expect(parsed.bytes).toBe(2 * 1024 ** 3);
    expect(parsed.chunk).toBe(1024 ** 2);
  });

  test.each([
    [["--transport", "pipe", "--address", "x"], /not unix or tcp/],
    [["--transport", "unix"], /--address is missing/],
    [["--transport"], /not a --flag followed by a value/],
    [["--transport", "unix", "--address", "/s", "--bytes", "lots"], /--bytes/],
  ])("rejects %p", (argv, message) => {
    expect(() => parse(argv)).toThrow(message);
  });

  test("an unknown role is refused, naming the roles there are", async () => {
    await expect(runBenchWorker(["stream-sideways"])).rejects.toThrow(/not one of stream-send, stream-recv/);
  });
});

describe("stream pattern", () => {
  const chunk = 4096;
  const pattern = patternChunk(chunk);
  /** The bytes a sender repeating `pattern` puts at stream offsets [offset, offset + length). */
  const streamBytes = (offset: number, length: number) =>
    Uint8Array.from({ length }, (_, index) => pattern[(offset + index) % chunk]!);

  test("accepts pieces at their true offsets, across chunk boundaries", () => {
    expect(checkPiece(streamBytes(0, 100), 0, chunk)).toBeUndefined();
    expect(checkPiece(streamBytes(4000, 500), 4000, chunk)).toBeUndefined();
    expect(checkPiece(new Uint8Array(0), 17, chunk)).toBeUndefined();
  });

  test.each([1, 7, 256, 1000, 4095])("detects a stream shifted by %p bytes", (shift) => {
    expect(checkPiece(streamBytes(10_000 + shift, 300), 10_000, chunk)).toMatch(/not the one sent there/);
  });
});

describe("worker events (one protocol for every worker)", () => {
  /** A process that prints `lines` on stdout, as a worker reports. */
  const printing = (...lines: string[]) =>
    new Child([process.execPath, "-e", `console.log(${JSON.stringify(lines.join("\n"))})`], "printer");

  test("reads events in order and checks the fields it uses", async () => {
    const child = printing('{"event":"ready","address":"/s"}', '{"event":"sent","bytes":5,"seconds":"x"}');
    expect(stringField(await nextEvent(child, "ready"), "address")).toBe("/s");
    const sent = await nextEvent(child, "sent");
    expect(numberField(sent, "bytes")).toBe(5);
    expect(() => numberField(sent, "seconds")).toThrow(/'seconds' is not a number/);
    expect(() => stringField(sent, "bytes")).toThrow(/'bytes' is not a string/);
    await child.finish();
  });

  test("an event out of order, or a line that is not JSON, names what it got", async () => {
    const child = printing('{"event":"dance"}', "not json");
    await expect(nextEvent(child, "ready")).rejects.toThrow(/said 'dance' before 'ready'/);
    await expect(nextEvent(child, "ready")).rejects.toThrow(/'not json' is not JSON/);
    await child.finish();
  });
});

describe("socat receiver log", () => {
  const log = [
    "2026/11/25 23:59:59.900000 socat[4358] N starting data transfer loop with FDs [5,5] and [6,6]",
    "2026/11/25 23:59:59.900100 socat[4358] I transferred 219264 bytes from 5 to 6",
    "2026/11/25 23:59:59.950000 socat[4358] I transferred 1000 bytes from 5 to 6",
    "2026/11/26 00:00:00.150000 socat[4358] I transferred 1 bytes from 5 to 6",
    "2026/11/26 00:00:00.150010 socat[4358] N socket 1 (fd 5) is at EOF",
    "2026/11/26 00:00:00.150050 socat[4358] N exiting with status 0",
  ].join("\n");

  test("sums the bytes and times the loop, across midnight", () => {
    const parsed = parseReceiverLog(log);
    expect(parsed.bytes).toBe(220265);
    expect(parsed.reads).toBe(3);
    expect(parsed.seconds).toBeCloseTo(0.25005, 9);
  });

  test("refuses a log without the loop's start", () => {
    expect(() => parseReceiverLog(log.split("\n").slice(1).join("\n"))).toThrow(/lacks/);
  });
});
