/** `ivsh guest send` / `recv` between separate processes: exact bytes, pipes, busy channels, two at once. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { fitRingToSize } from "../src/transfer/ring-setup.ts";
import { CLI } from "./helpers/paths.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { clientEnv, guest, outPath, randomFile, roundTrip, sameBytes, slug } from "./helpers/transfer.ts";

const CHUNK = 65536;
const suite = sharedArbiter("transfer", { size: "64MiB" });

describe("bit-exact round trips", () => {
  for (const [label, bytes] of [
    ["0 bytes", 0],
    ["1 byte", 1],
    ["block - 1", CHUNK - 1],
    ["block", CHUNK],
    ["block + 1", CHUNK + 1],
  ] as const)
    test(label, () => roundTrip(suite.paths, slug(label), bytes, { chunk: CHUNK }));

  test("256 MiB of random data", () => roundTrip(suite.paths, "big", 256 << 20, { chunk: 1 << 20 }), 120_000);
});

describe("the summary's time", () => {
  test("the sender's clock starts when the receiver arrives, not while it waits for one", async () => {
    const input = join(suite.dir, "arrival.in");
    await randomFile(input, 4 << 20);
    const sender = guest(suite.paths, ["send", input, "--channel", "arrival", "--json"]);
    // Long enough for the sender to open the channel and wait; nothing below depends on how long.
    await Bun.sleep(1500);
    const receiverStarted = performance.now();
    const receiver = guest(suite.paths, [
      "recv",
      "--channel",
      "arrival",
      "--out",
      outPath(suite.paths, "arrival.out"),
    ]);
    expect(await sender.exit()).toBe(0);
    const sinceReceiver = (performance.now() - receiverStarted) / 1000;
    expect(await receiver.exit()).toBe(0);
    await sender.events.finished;
    const { seconds } = JSON.parse(sender.events.lines.at(-1)!);
    // Causality, not speed: the transfer cannot have begun before its receiver was started.
    expect(seconds).toBeLessThan(sinceReceiver);
  });
});

describe("the ring fits a file of known size", () => {
  test("a small file goes through a one-page ring, and the digest is the one its records define", async () => {
    await roundTrip(suite.paths, "small-ring", 1024, { chunk: CHUNK });
    const input = join(suite.dir, "fit.in");
    await randomFile(input, 1024);
    const receiver = guest(suite.paths, [
      "recv",
      "--channel",
      "fit",
      "--out",
      outPath(suite.paths, "fit.out"),
      "--json",
    ]);
    const sender = guest(suite.paths, ["send", input, "--channel", "fit", "--json"]);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    await sender.events.finished;
    const summary = JSON.parse(sender.events.lines.at(-1)!);
    expect(summary).toMatchObject({ chunkBytes: 4096, depth: 2 });
    // Rounded to what the clock resolves, not "0.06965509299999996".
    expect(String(summary.seconds)).toMatch(/^\d+(\.\d{1,6})?(e-\d+)?$/);
    expect(String(summary.gbPerSecond)).toMatch(/^\d+(\.\d{1,3})?$/);
  });

  for (const [label, size, expected] of [
    ["nothing", 0, { chunkBytes: 4096, depth: 2 }],
    ["1 byte", 1, { chunkBytes: 4096, depth: 2 }],
    ["a page and a byte", 4097, { chunkBytes: 8192, depth: 2 }],
    ["one chunk", CHUNK, { chunkBytes: CHUNK, depth: 2 }],
    ["a chunk and a byte", CHUNK + 1, { chunkBytes: CHUNK, depth: 3 }],
    ["more than the ring", 100 * CHUNK, { chunkBytes: CHUNK, depth: 8 }],
    ["an unknown size (a pipe)", undefined, { chunkBytes: CHUNK, depth: 8 }],
  ] as const)
    test(`fitRingToSize: ${label}`, () => {
      expect(fitRingToSize({ chunkBytes: CHUNK, depth: 8 }, size)).toMatchObject(expected);
    });

  test("a regular file sent with --depth alone keeps that depth and the default chunk, not the file ring's shape", async () => {
    const input = join(suite.dir, "depth-only.in");
    await randomFile(input, 8 << 20);
    const out = outPath(suite.paths, "depth-only.out");
    const receiver = guest(suite.paths, ["recv", "--channel", "depth-only", "--out", out]);
    const sender = guest(suite.paths, ["send", input, "--channel", "depth-only", "--depth", "3", "--json"]);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    await sender.events.finished;
    expect(JSON.parse(sender.events.lines.at(-1)!)).toMatchObject({ chunkBytes: 1 << 20, depth: 3 });
  });

  test("fitRingToSize leaves geometry the user got wrong for open() to refuse", () => {
    expect(fitRingToSize({ chunkBytes: 1000, depth: 8 }, 10)).toEqual({ chunkBytes: 1000, depth: 8 });
  });
});

describe("pipes and the channel's rules", () => {
  test("stdin to stdout: a pipe on both ends", async () => {
    const data = await randomFile(join(suite.dir, "piped.in"), 5_000_000);
    // stdout carries the data here, so the receiver is spawned without the JSON-event reader.
    const receiver = Bun.spawn([process.execPath, CLI, "guest", "recv", "--channel", "pipe"], {
      env: { ...process.env, ...clientEnv(suite.paths) },
      stdout: "pipe",
      stderr: "inherit",
    });
    const sender = guest(suite.paths, ["send", "-", "--channel", "pipe"]);
    for (let offset = 0; offset < data.length; offset += 300_000) {
      sender.proc.stdin.write(data.subarray(offset, offset + 300_000));
      await sender.proc.stdin.flush();
      await Bun.sleep(5);
    }
    await sender.proc.stdin.end();
    const output = new Uint8Array(await new Response(receiver.stdout).arrayBuffer());
    expect([await sender.exit(), await receiver.exited]).toEqual([0, 0]);
    expect(sameBytes(output, data)).toBe(true);
  });

  test("a pipe's bytes reach the receiver as they come, not once a chunk is full or the pipe closes", async () => {
    const receiver = Bun.spawn([process.execPath, CLI, "guest", "recv", "--channel", "as-they-come"], {
      env: { ...process.env, ...clientEnv(suite.paths) },
      stdout: "pipe",
      stderr: "inherit",
    });
    const sender = guest(suite.paths, ["send", "-", "--channel", "as-they-come"]);
    sender.proc.stdin.write("hello\n");
    await sender.proc.stdin.flush();
    const reader = receiver.stdout.getReader();
    try {
      const first = await Promise.race([reader.read(), Bun.sleep(10_000).then(() => undefined)]);
      expect(first?.value ? new TextDecoder().decode(first.value) : "nothing within 10 s").toBe("hello\n");
    } finally {
      reader.releaseLock();
      await sender.proc.stdin.end();
    }
    expect([await sender.exit(), await receiver.exited]).toEqual([0, 0]);
  });

  test("a second sender on a busy channel is told 'the channel is busy'; the first is unaffected", async () => {
    const first = guest(suite.paths, ["send", "-", "--channel", "busy"]);
    first.proc.stdin.write(new Uint8Array(1000));
    await first.proc.stdin.flush();
    await Bun.sleep(500);
    const second = guest(suite.paths, ["send", join(suite.dir, "piped.in"), "--channel", "busy"]);
    expect(await second.exit()).toBe(1);
    expect(await second.stderr).toMatch(
      /Failed to send on channel 'busy' since the channel is busy: client \d+ is sending on it/,
    );
    const receiver = guest(suite.paths, [
      "recv",
      "--channel",
      "busy",
      "--out",
      outPath(suite.paths, "busy.out"),
    ]);
    await first.proc.stdin.end();
    expect([await first.exit(), await receiver.exit()]).toEqual([0, 0]);
    expect(Bun.file(outPath(suite.paths, "busy.out")).size).toBe(1000);
  });

  test("a second receiver on a busy channel is told 'client N is receiving on it'", async () => {
    const first = guest(suite.paths, [
      "recv",
      "--channel",
      "busy-recv",
      "--out",
      outPath(suite.paths, "busy-recv.out"),
    ]);
    await Bun.sleep(500);
    const second = guest(suite.paths, [
      "recv",
      "--channel",
      "busy-recv",
      "--out",
      outPath(suite.paths, "busy-recv.2"),
    ]);
    expect(await second.exit()).toBe(1);
    expect(await second.stderr).toMatch(
      /Failed to receive on channel 'busy-recv' since the channel is busy: client \d+ is receiving on it/,
    );
    const data = await randomFile(join(suite.dir, "busy-recv.in"), 1000);
    const sender = guest(suite.paths, ["send", join(suite.dir, "busy-recv.in"), "--channel", "busy-recv"]);
    expect([await sender.exit(), await first.exit()]).toEqual([0, 0]);
    expect(
      sameBytes(new Uint8Array(await Bun.file(outPath(suite.paths, "busy-recv.out")).arrayBuffer()), data),
    ).toBe(true);
  });

  test("the receiver may start first", async () => {
    const receiver = guest(suite.paths, [
      "recv",
      "--channel",
      "late",
      "--out",
      outPath(suite.paths, "late.out"),
    ]);
    await Bun.sleep(700);
    const data = await randomFile(join(suite.dir, "late.in"), 200_000);
    const sender = guest(suite.paths, ["send", join(suite.dir, "late.in"), "--channel", "late"]);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    expect(
      sameBytes(new Uint8Array(await Bun.file(outPath(suite.paths, "late.out")).arrayBuffer()), data),
    ).toBe(true);
  });

  test("two channels at once between four processes", async () => {
    const inputs = await Promise.all(
      ["a", "b"].map((name) => randomFile(join(suite.dir, `${name}.in`), 20 << 20)),
    );
    const sides = ["a", "b"].flatMap((name) => [
      guest(suite.paths, ["recv", "--channel", `pair-${name}`, "--out", outPath(suite.paths, `${name}.out`)]),
      guest(suite.paths, [
        "send",
        join(suite.dir, `${name}.in`),
        "--channel",
        `pair-${name}`,
        "--block-size",
        "256KiB",
      ]),
    ]);
    expect(await Promise.all(sides.map((side) => side.exit()))).toEqual([0, 0, 0, 0]);
    for (const [index, name] of ["a", "b"].entries())
      expect(
        sameBytes(
          new Uint8Array(await Bun.file(outPath(suite.paths, `${name}.out`)).arrayBuffer()),
          inputs[index]!,
        ),
      ).toBe(true);
  }, 60_000);

  test("afterwards every ring is freed", async () => {
    const { fetchStatus } = await import("../src/guest/inspect.ts");
    const { report } = await fetchStatus({ unix: suite.socket });
    expect(report.segments).toEqual([]);
    expect(report.blocks.used).toBe(0);
  });
});
