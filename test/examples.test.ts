/** The report's Fig. 1 / Fig. 2 loops (examples/) move 64 MiB between two processes, content verified. */
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./helpers/paths.ts";
import { runCli, spawnBun } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("examples");

test("fig1-writer and fig2-reader move 64 MiB bit-exact", async () => {
  const bytes = 64 << 20;
  const input = join(suite.dir, "input");
  const output = join(suite.dir, "output");
  const data = new Uint8Array(bytes);
  for (let offset = 0; offset < bytes; offset += 65536)
    crypto.getRandomValues(data.subarray(offset, offset + 65536));
  await Bun.write(input, data);
  const flags = ["--socket", suite.socket, "--region", suite.region];
  // The reader starts first: it must wait for the writer's area.
  const reader = spawnBun([join(REPO, "examples/fig2-reader.ts"), output, String(bytes), ...flags]);
  await Bun.sleep(200);
  const writer = spawnBun([join(REPO, "examples/fig1-writer.ts"), input, ...flags]);
  const [sent, received] = await Promise.all([
    writer.events.next("sent", 60_000),
    reader.events.next("received", 60_000),
  ]);
  expect(sent.chunks).toBe(received.chunks);
  expect([await writer.exit(), await reader.exit()]).toEqual([0, 0]);
  const copy = new Uint8Array(await Bun.file(output).arrayBuffer());
  expect(copy.length).toBe(bytes);
  expect(Bun.hash.xxHash3(copy)).toBe(Bun.hash.xxHash3(data));
}, 90_000);

test("a file that ends in a part chunk arrives whole: the last hand-off moves only what is left", async () => {
  // Chunks of 4096 bytes (--size 4097): two whole ones and 1809 bytes.
  const bytes = 2 * 4096 + 1809;
  const input = join(suite.dir, "odd-input");
  const output = join(suite.dir, "odd-output");
  const data = crypto.getRandomValues(new Uint8Array(bytes));
  await Bun.write(input, data);
  const flags = ["--size", "4097", "--socket", suite.socket, "--region", suite.region];
  const reader = spawnBun([join(REPO, "examples/fig2-reader.ts"), output, String(bytes), ...flags]);
  const writer = spawnBun([join(REPO, "examples/fig1-writer.ts"), input, ...flags]);
  const [sent, received] = await Promise.all([
    writer.events.next("sent", 60_000),
    reader.events.next("received", 60_000),
  ]);
  expect([sent.chunks, received.chunks]).toEqual([3, 3]);
  expect([await writer.exit(30_000), await reader.exit(30_000)]).toEqual([0, 0]);
  expect(Buffer.compare(readFileSync(output), Buffer.from(data))).toBe(0);
}, 90_000);

// With --size 1 the area holds the flag byte and no data: each hand-off moved 0 bytes, and the writer
// waited for ever on a reader (or both spun through an endless count of empty chunks).
test("an area with no byte for data, or a byte count below 0, is refused, not looped on for ever", async () => {
  const input = join(suite.dir, "small-input");
  writeFileSync(input, "0123456789");
  const flags = ["--socket", suite.socket, "--region", suite.region];
  const [writer, reader, output] = [
    join(REPO, "examples/fig1-writer.ts"),
    join(REPO, "examples/fig2-reader.ts"),
    join(suite.dir, "small-output"),
  ];
  for (const args of [
    [writer, input, "--size", "1", ...flags],
    [reader, output, "10", "--size", "1", ...flags],
    [reader, ...flags, "--", output, "-5"],
  ]) {
    const run = spawnBun(args);
    expect(await run.exit(30_000)).not.toBe(0);
    expect(await run.stderr).toMatch(/InvalidArgument|at least one byte of data|whole number/);
  }
}, 120_000);

// The same loops run from the binary (`ivsh example`, all a test VM has) refuse that area as a usage error,
// before any arbiter is asked (none is at this socket).
test("ivsh example fig1-writer / fig2-reader --size 1: refused as an area with no byte for data (exit 2)", async () => {
  const input = join(suite.dir, "cli-small-input");
  writeFileSync(input, "0123456789");
  const flags = ["--size", "1", "--socket", join(suite.dir, "none.sock"), "--region", suite.region];
  for (const args of [
    ["fig1-writer", input, ...flags],
    ["fig2-reader", join(suite.dir, "cli-small-output"), "10", ...flags],
  ]) {
    const result = await runCli(["example", ...args]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("the area needs its flag byte and at least one byte of data");
  }
});

test("a reader refused its byte count or area leaves an existing OUT file as it was", async () => {
  const output = join(suite.dir, "kept-output");
  const flags = ["--socket", suite.socket, "--region", suite.region];
  const reader = join(REPO, "examples/fig2-reader.ts");
  for (const args of [
    [reader, ...flags, "--", output, "-5"],
    [reader, output, "10", "--size", "1", ...flags],
  ]) {
    writeFileSync(output, "the user's data");
    const run = spawnBun(args);
    expect(await run.exit(30_000)).not.toBe(0);
    expect(await run.stderr).toMatch(/InvalidArgument/);
    expect(readFileSync(output, "utf8")).toBe("the user's data");
  }
}, 60_000);
