/**
 * Regressions for faults found outside the hand-picked points of transfer-failures.test.ts: a receiver
 * that goes away while its sender reads a slow pipe, an interruption that arrives together with the EOF
 * it caused, and an interruption in the window between the end record and the receiver's verdict.
 */
import { describe, expect, test } from "bun:test";
import { connect, isIvshError } from "../src/guest/index.ts";
import { ChannelState } from "../src/region/layout.ts";
import { ChannelReceiver } from "../src/transfer/receiver.ts";
import { ChannelSender } from "../src/transfer/sender.ts";
import { channelProbes } from "./helpers/channel-probes.ts";
import { expectRejection } from "./helpers/errors.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, livenessBoundMs } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest, outPath, waitForSize } from "./helpers/transfer.ts";

// Long enough that a receiver the test keeps stopped for a moment is not expired under a loaded machine.
const LEASE_MS = 5000;
const suite = sharedArbiter("xfault", { size: "64MiB", lease: `${LEASE_MS}ms` });
const { endPublished, expectNothingHeld, transferJoined } = channelProbes(suite, LEASE_MS);

/** Writes `piece` to a process's stdin every `everyMs` until stopped, as a slow producer does. */
function trickle(sink: { write(bytes: Uint8Array): unknown; flush(): unknown }, everyMs: number) {
  const piece = new Uint8Array(64 << 10).fill(42);
  const timer = setInterval(() => {
    // The reader may be gone (that is what the test is about): EPIPE comes back synchronously or as a
    // rejected promise, and neither may escape as an unhandled error.
    try {
      Promise.resolve(sink.write(piece)).catch(() => {});
      Promise.resolve(sink.flush()).catch(() => {});
    } catch {}
  }, everyMs);
  return () => clearInterval(timer);
}

describe("a stdin sender whose receiver goes away", () => {
  for (const signal of ["SIGKILL", "SIGINT"] as const) {
    test(`receiver ${signal}ed while the sender waits on a slow pipe: the sender exits 1 naming it`, async () => {
      const channel = `slow-${signal}`;
      const output = outPath(suite.paths, `${channel}.out`);
      const receiver = guest(suite.paths, ["recv", "--channel", channel, "--out", output]);
      const sender = guest(suite.paths, ["send", "-", "--channel", channel]);
      const stop = trickle(sender.proc.stdin, 100);
      try {
        await waitForSize(`${output}.partial`, 128 << 10);
        receiver.proc.kill(signal);
        await receiver.exit();
        // The ring (8 MiB) would take 13 s of this trickle to fill: the sender must notice before that.
        expect(await sender.exit(livenessBoundMs(LEASE_MS))).toBe(1);
      } finally {
        stop();
      }
      // Whichever it notices first: the receiver's lock word let go, or the transfer marked dropped.
      expect(await sender.stderr).toMatch(/the receiver \(client \d+\) (died|gave up before the end)/);
      await expectNothingHeld();
    });
  }
});

describe("an interruption wins over the end of input it caused", () => {
  for (const mebibytes of [0, 1, 3, 8]) {
    test(`SIGINT, then EOF in the same instant, after ${mebibytes} MiB: exit 130 and only FILE.partial`, async () => {
      const channel = `eof-${mebibytes}`;
      const output = outPath(suite.paths, `${channel}.out`);
      const receiver = guest(suite.paths, ["recv", "--channel", channel, "--out", output]);
      const sender = guest(suite.paths, ["send", "-", "--channel", channel]);
      await transferJoined(channel); // both ends are up and attached: what follows is mid-stream
      if (mebibytes > 0) await sender.proc.stdin.write(new Uint8Array(mebibytes << 20).fill(mebibytes));
      await sender.proc.stdin.flush();
      // As Ctrl-C in a terminal: our signal is on its way when the producer's death closes the pipe.
      sender.proc.kill("SIGINT");
      sender.proc.stdin.end();
      expect(await sender.exit()).toBe(130);
      expect(await receiver.exit()).toBe(1);
      expect(await Bun.file(output).exists()).toBe(false);
      await expectNothingHeld();
    });
  }
});

test("interrupted after the end record, before the verdict: exit 130, and the receiver keeps only .partial", async () => {
  const output = outPath(suite.paths, "window.out");
  const receiver = guest(suite.paths, ["recv", "--channel", "window", "--out", output]);
  const sender = guest(suite.paths, ["send", "-", "--channel", "window"]);
  sender.proc.stdin.write(new Uint8Array(1 << 20).fill(9));
  await sender.proc.stdin.flush();
  await waitForSize(`${output}.partial`, 1 << 20);
  receiver.proc.kill("SIGSTOP"); // it will find the end record only after the sender gave up
  await sender.proc.stdin.end();
  // Once the end record is out, the sender awaits the verdict: the window of this test.
  await eventually(() => endPublished("window"), livenessBoundMs(LEASE_MS), "publishing the end record");
  sender.proc.kill("SIGINT");
  expect(await sender.exit()).toBe(130);
  receiver.proc.kill("SIGCONT");
  expect(await receiver.exit()).toBe(1);
  expect(await receiver.stderr).toMatch(/the sender \(client \d+\) gave up before the end/);
  expect(await Bun.file(output).exists()).toBe(false);
  expect(Bun.file(`${output}.partial`).size).toBe(1 << 20);
  await expectNothingHeld();
});

test("an abandon that comes once the receiver keeps the stream fails: the transfer completes", async () => {
  const [sending, receiving] = await Promise.all(
    ["abandoning sender", "keeping receiver"].map((name) =>
      connect({ socket: suite.socket, region: suite.region, name }),
    ),
  );
  const sender = await ChannelSender.open(sending!, "cas", { chunkBytes: 65536, depth: 4 });
  let abandonedInWindow: number | undefined;
  // The sender's abandon lands exactly in the window: after the receiver claimed the verdict, before it
  // renamed its file. The receiver owns the transfer's end from that point.
  const keeper = {
    keep: () => {
      abandonedInWindow = sender.slot.compareExchange(
        "state",
        ChannelState.streaming,
        ChannelState.abandoned,
      );
    },
    unkeep: () => {
      throw new Error("the receiver undid a verdict it could tell");
    },
  };
  const receiver = await ChannelReceiver.open(receiving!, "cas", { keeper });
  await sender.write(new Uint8Array(100_000).fill(5));
  const finishing = sender.finish();
  while ((await receiver.receive(() => {})) !== undefined);
  expect(abandonedInWindow).toBe(ChannelState.keeping);
  expect((await finishing).bytes).toBe(100_000);
  await receiver.close();
  await sender.close();
  await Promise.all([sending!.close(), receiving!.close()]);
  await expectNothingHeld();
});

test("finish() twice, or data after finish(), is refused as a finished transfer, not called corruption", async () => {
  const [sending, receiving] = await Promise.all(
    ["finishing twice", "receiving once"].map((name) =>
      connect({ socket: suite.socket, region: suite.region, name }),
    ),
  );
  const sender = await ChannelSender.open(sending!, "twice", { chunkBytes: 65536, depth: 4 });
  const receiver = await ChannelReceiver.open(receiving!, "twice");
  await sender.write(new Uint8Array(1000).fill(3));
  const finishing = sender.finish();
  await expectRejection(
    sender.finish(),
    "InvalidArgument",
    /this transfer has ended \(finish\(\) was called\)/,
  );
  while ((await receiver.receive(() => {})) !== undefined);
  expect((await finishing).bytes).toBe(1000);
  await expectRejection(sender.finish(), "InvalidArgument", /this transfer has ended/);
  await expectRejection(sender.write(new Uint8Array(10)), "InvalidArgument", /this transfer has ended/);
  await expectRejection(
    sender.send(() => 10),
    "InvalidArgument",
    /this transfer has ended/,
  );
  await receiver.close();
  await sender.close();
  await Promise.all([sending!.close(), receiving!.close()]);
  await expectNothingHeld();
});

test("receive() again after the end failed tells the same failure, not undefined (the end of a verified stream)", async () => {
  const [sending, receiving] = await Promise.all(
    ["sender", "receiver that cannot keep"].map((name) =>
      connect({ socket: suite.socket, region: suite.region, name }),
    ),
  );
  const sender = await ChannelSender.open(sending!, "unkept", { chunkBytes: 65536, depth: 4 });
  const keeper = {
    keep: () => {
      throw new Error("the disk is full");
    },
    unkeep: () => {},
  };
  const receiver = await ChannelReceiver.open(receiving!, "unkept", { keeper });
  await sender.write(new Uint8Array(1000).fill(6));
  const finishing = sender.finish();
  expect(await receiver.receive(() => {})).toBe(1000);
  // A caller that retries, or loops until undefined, was told before that the stream ended well.
  for (let call = 0; call < 2; call++)
    await expect(receiver.receive(() => {})).rejects.toThrow("the disk is full");
  await expectRejection(finishing, "PeerGone", /got the stream intact but could not keep it/);
  await receiver.close();
  await sender.close();
  await Promise.all([sending!.close(), receiving!.close()]);
  await expectNothingHeld();
});

test("a receiver frozen past its lease while it keeps the file: it fails and undoes the keep (FILE back to FILE.partial)", async () => {
  // Found by the soak (seed 1202, scenario 45): SIGSTOP landed during the rename; the receiver woke with
  // its session gone, failed, and left the file under its final name. Here the freeze is a busy wait in
  // keep(), on an arbiter of its own with a short lease, so no other test's session expires with it.
  const own = testPaths("frozen-keep");
  const shortLease = 1000;
  const arbiter = await ArbiterProcess.start(own, { size: "16MiB", lease: `${shortLease}ms` });
  try {
    const [sending, receiving] = await Promise.all(
      ["sender", "frozen receiver"].map((name) => connect({ socket: own.socket, region: own.region, name })),
    );
    const sender = await ChannelSender.open(sending!, "frozen", { chunkBytes: 65536, depth: 4 });
    const calls: string[] = [];
    const keeper = {
      keep: () => {
        calls.push("keep");
        // Past what expiry takes: silent for a lease, then expired at a later sweep (quarter leases).
        const until = performance.now() + 4 * shortLease;
        while (performance.now() < until); // the whole process stands still, as under SIGSTOP
      },
      unkeep: () => calls.push("unkeep"),
    };
    const receiver = await ChannelReceiver.open(receiving!, "frozen", { keeper });
    await sender.write(new Uint8Array(100_000).fill(7));
    const finishing = sender.finish().catch((error: unknown) => error);
    const failed = await (async () => {
      while ((await receiver.receive(() => {})) !== undefined);
    })().catch((error: unknown) => error);
    expect(isIvshError(failed, "LeaseExpired")).toBe(true);
    expect(calls).toEqual(["keep", "unkeep"]);
    expect(isIvshError(await finishing)).toBe(true);
  } finally {
    await arbiter.stop();
    own.cleanup();
  }
}, 30_000);
