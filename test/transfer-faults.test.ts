/**
 * Regressions for faults found outside the hand-picked points of transfer-failures.test.ts: a receiver
 * that goes away while its sender reads a slow pipe, an interruption that arrives together with the EOF
 * it caused, and an interruption in the window between the end record and the receiver's verdict.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { connect, isIvshError } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import {
  blockOffset,
  ChannelState,
  ChannelWord,
  computeGeometry,
  LOCK_OWNER_MASK,
  PAGE_SIZE,
  RECORD_BYTES,
  RECORD_END,
  RecordField,
  slotWordIndex,
} from "../src/region/layout.ts";
import { mapRegionFile } from "../src/region/mapping.ts";
import { ChannelReceiver } from "../src/transfer/receiver.ts";
import { ChannelSender } from "../src/transfer/sender.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, livenessBoundMs } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest, outPath, randomFile, sameBytes, waitForSize } from "./helpers/transfer.ts";

// Long enough that a receiver the test keeps stopped for a moment is not expired under a loaded machine.
const LEASE_MS = 5000;
const suite = sharedArbiter("xfault", { size: "64MiB", lease: `${LEASE_MS}ms` });

/** Nothing of any transfer is left: no blocks, segments, slots or clients. */
async function expectNothingHeld(): Promise<void> {
  let held = "";
  const released = async () => {
    const { report, self } = await fetchStatus({ unix: suite.socket });
    const others = report.clients.filter((client) => client.clientId !== self);
    held = JSON.stringify({ blocks: report.blocks.used, sync: report.sync, clients: others });
    return report.blocks.used === 0 && report.sync.length === 0 && others.length === 0;
  };
  await eventually(released, livenessBoundMs(LEASE_MS), "releasing every block, slot and client").catch(
    (error: Error) => {
      throw new Error(`${error.message}; still held: ${held}`);
    },
  );
}

/**
 * Whether the channel's last published record is the end record, read from the region as any process
 * mapping it would: the slot's head and depth, then the flags of record head - 1 in the ring segment.
 */
async function endPublished(channel: string): Promise<boolean> {
  const { report } = await fetchStatus({ unix: suite.socket });
  const slot = report.sync.find((object) => object.name === `channel:${channel}`);
  const ring = report.segments.find((segment) => segment.name.startsWith(`channel:${channel}:`));
  if (!slot || !ring) return false;
  const { size, blockSize, slotCount } = report.region;
  const geometry = computeGeometry(size, blockSize, slotCount);
  const region = mapRegionFile(suite.region);
  try {
    const words = new Int32Array(region.bytes(0, geometry.dataOffset).buffer);
    const word = (name: keyof typeof ChannelWord) =>
      Atomics.load(words, slotWordIndex(geometry, slot.slot, ChannelWord[name]));
    const last = (word("head") - 1) % word("depth");
    const headers = region.bytes(blockOffset(geometry, ring.firstBlock), PAGE_SIZE);
    return word("head") > 0 && headers[last * RECORD_BYTES + RecordField.flags] === RECORD_END;
  } finally {
    region.close();
  }
}

/** Overwrites a word of the channel's slot, as a rogue guest with the region mapped could. */
async function writeChannelWord(
  channel: string,
  name: keyof typeof ChannelWord,
  change: (value: number) => number,
): Promise<number> {
  const { report } = await fetchStatus({ unix: suite.socket });
  const slot = report.sync.find((object) => object.name === `channel:${channel}`);
  if (!slot) return 0; // no such channel (any more): every word reads as the zero of a fresh slot
  const { size, blockSize, slotCount } = report.region;
  const geometry = computeGeometry(size, blockSize, slotCount);
  const region = mapRegionFile(suite.region);
  const words = new Int32Array(region.bytes(0, geometry.dataOffset).buffer);
  const index = slotWordIndex(geometry, slot.slot, ChannelWord[name]);
  const value = Atomics.load(words, index);
  if (change(value) !== value) Atomics.store(words, index, change(value));
  region.close();
  return value;
}

/** The client id holding a channel role's lock word (0: nobody; the arbiter has released a dead holder). */
async function roleHolder(channel: string, role: "sender" | "receiver"): Promise<number> {
  return (await writeChannelWord(channel, role, (value) => value)) & LOCK_OWNER_MASK;
}

/** Waits until the receiver has joined the sender's transfer (both hold its ring). */
async function transferJoined(channel: string): Promise<void> {
  const joined = async () => {
    const { report } = await fetchStatus({ unix: suite.socket });
    const ring = report.segments.find((segment) => segment.name.startsWith(`channel:${channel}:`));
    return ring?.holders.length === 2;
  };
  await eventually(joined, livenessBoundMs(LEASE_MS), `the receiver joining channel '${channel}'`);
}

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

test("a receiver that leaves mid-stream stops its sender at once, whatever its lock word says", async () => {
  const [client, other] = await Promise.all(
    ["sender", "receiver"].map((name) => connect({ socket: suite.socket, region: suite.region, name })),
  );
  const sender = await ChannelSender.open(client!, "drop", { chunkBytes: 65536, depth: 2 });
  const receiver = await ChannelReceiver.open(other!, "drop");
  // More than the ring holds: the sender ends up waiting for space when the receiver leaves.
  const writing = sender.write(new Uint8Array(1 << 20)).catch((error: unknown) => error);
  expect(await receiver.receive(() => {})).toBe(65536);
  await receiver.close(); // before the end: the transfer is dropped
  const error = await writing;
  expect(isIvshError(error, "PeerGone")).toBe(true);
  expect(String(error)).toMatch(/the receiver \(client \d+\) gave up before the end/);
  await sender.close();
  await Promise.all([client!.close(), other!.close()]);
  await expectNothingHeld();
});

test("a sender whose receiver died streams to the next receiver, which waited for it", async () => {
  const dead = guest(suite.paths, ["recv", "--channel", "next", "--out", outPath(suite.paths, "dead.out")]);
  const first = guest(suite.paths, ["send", "-", "--channel", "next", "--block-size", "64KiB"]);
  first.proc.stdin.write(new Uint8Array(256 << 10).fill(3));
  await first.proc.stdin.flush();
  await waitForSize(outPath(suite.paths, "dead.out.partial"), 256 << 10);
  dead.proc.kill("SIGKILL");
  const bound = livenessBoundMs(LEASE_MS);
  await eventually(
    async () => (await roleHolder("next", "receiver")) === 0,
    bound,
    "releasing the dead role",
  );
  // A new receiver takes the role the arbiter released, and waits for a transfer of its own.
  const next = guest(suite.paths, ["recv", "--channel", "next", "--out", outPath(suite.paths, "next.out")]);
  await eventually(async () => (await roleHolder("next", "receiver")) !== 0, bound, "the next receiver");
  expect(await first.exit(livenessBoundMs(LEASE_MS))).toBe(1); // it was streaming to the dead one
  const data = await randomFile(outPath(suite.paths, "next.in"), 300_000);
  const second = guest(suite.paths, ["send", outPath(suite.paths, "next.in"), "--channel", "next"]);
  expect([await second.exit(), await next.exit()]).toEqual([0, 0]);
  expect(
    sameBytes(new Uint8Array(await Bun.file(outPath(suite.paths, "next.out")).arrayBuffer()), data),
  ).toBe(true);
  await expectNothingHeld();
});

test("an end's own counter overwritten: it fails naming it, and so does its peer, instead of both waiting", async () => {
  const output = outPath(suite.paths, "scribbled.out");
  const receiver = guest(suite.paths, ["recv", "--channel", "scribbled", "--out", output]);
  const sender = guest(suite.paths, [
    "send",
    "-",
    "--channel",
    "scribbled",
    "--block-size",
    "64KiB",
    "--depth",
    "4",
  ]);
  sender.proc.stdin.write(new Uint8Array(200_000).fill(4));
  await sender.proc.stdin.flush();
  await waitForSize(`${output}.partial`, 200_000); // both now wait: the receiver for data, the sender for input
  // Another guest sets the receiver's tail back by one: each end would wait for the other for ever.
  await writeChannelWord("scribbled", "tail", (tail) => tail - 1);
  expect(await receiver.exit(livenessBoundMs(LEASE_MS))).toBe(1);
  expect(await receiver.stderr).toMatch(/tail counter .* overwritten/);
  expect(await sender.exit(livenessBoundMs(LEASE_MS))).toBe(1);
  expect(await Bun.file(output).exists()).toBe(false);
  await expectNothingHeld();
});

test("the word naming the transfer its receiver joined, overwritten: the sender fails naming it instead of waiting for ever", async () => {
  const output = outPath(suite.paths, "joined.out");
  const receiver = guest(suite.paths, ["recv", "--channel", "joined", "--out", output]);
  const sender = guest(suite.paths, [
    "send",
    "-",
    "--channel",
    "joined",
    "--chunk-size",
    "64KiB",
    "--depth",
    "4",
  ]);
  const input = new Uint8Array(800_000).fill(6);
  sender.proc.stdin.write(input.subarray(0, 200_000));
  await sender.proc.stdin.flush();
  await waitForSize(`${output}.partial`, 200_000); // joined, and consuming
  // Another guest overwrites receiverJoined: the sender waited on it for a receiver that had long joined
  // (soak seed 1304, scenario 56: both ends hung).
  await writeChannelWord("joined", "receiverJoined", (transfer) => transfer + 1000);
  try {
    sender.proc.stdin.write(input.subarray(200_000));
    await sender.proc.stdin.end();
  } catch {
    // EPIPE: the sender already failed (the stderr check below says why)
  }
  const sent = await sender.exit(livenessBoundMs(LEASE_MS));
  await receiver.exit(livenessBoundMs(LEASE_MS));
  if (sent === 0) {
    // The receiver's verdict came before the sender looked: a verified, bit-exact copy.
    expect(sameBytes(new Uint8Array(await Bun.file(output).arrayBuffer()), input)).toBe(true);
  } else {
    expect(await sender.stderr).toMatch(
      /naming the transfer it joined holds \d+, not \d+: the region was overwritten/,
    );
    expect(await Bun.file(output).exists()).toBe(false);
  }
  await expectNothingHeld();
});

/**
 * A 4 MiB piped transfer on an arbiter of its own, killed with SIGKILL after the first MiB arrived; then
 * `afterKill`, the rest of the input, and both ends' exits. Resolves with the time from the kill to both
 * exits; the copy must be bit-exact.
 */
async function acrossArbiterDeath(
  label: string,
  leaseMs: number,
  afterKill: (host: ArbiterProcess, own: TestPaths) => Promise<void>,
  check: (own: TestPaths) => Promise<void> = async () => {},
): Promise<number> {
  const own = testPaths(label);
  const host = await ArbiterProcess.start(own, { size: "16MiB", lease: `${leaseMs}ms` });
  try {
    const input = join(own.dir, "input");
    await randomFile(input, 4 << 20);
    const bytes = new Uint8Array(await Bun.file(input).arrayBuffer());
    const out = outPath(own, "away.out");
    const receiver = guest(own, ["recv", "--out", out]);
    const sender = guest(own, ["send", "-", "--chunk-size", "64KiB"]);
    sender.proc.stdin.write(bytes.subarray(0, 1 << 20));
    await sender.proc.stdin.flush();
    await waitForSize(`${out}.partial`, 1 << 20);
    await host.kill9();
    const killedAt = performance.now();
    sender.proc.stdin.write(bytes.subarray(1 << 20));
    await sender.proc.stdin.end();
    await afterKill(host, own);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    const tookMs = performance.now() - killedAt;
    expect(sameBytes(new Uint8Array(await Bun.file(out).arrayBuffer()), bytes)).toBe(true);
    await check(own);
    return tookMs;
  } finally {
    await host.stop();
    own.cleanup();
  }
}

test("the arbiter killed mid-transfer, never back: both ends finish the verified copy without waiting out a reconnect", async () => {
  // Long enough that a loaded machine's stall does not freeze a client; the fix (ends within a lease of
  // the arbiter's going) still reads apart from the 25–30 s it took without it.
  const leaseMs = 3000;
  const tookMs = await acrossArbiterDeath("xfault-away", leaseMs, async () => {});
  // Their release waits a lease for the arbiter's return, not the 30 s reconnect timeout.
  expect(tookMs).toBeLessThan(livenessBoundMs(leaseMs));
}, 60_000);

test("the arbiter killed mid-transfer and restarted within the lease: the ends' release reaches it, the ring is free", async () => {
  // A lease no restart on a loaded machine outlasts: the ends wait for it to release what they held.
  await acrossArbiterDeath(
    "xfault-back",
    10_000,
    (host) => host.restart(),
    async (own) => {
      const { report } = await fetchStatus({ unix: own.socket });
      expect(report.segments).toEqual([]);
    },
  );
}, 60_000);

test("Ctrl-C while an end waits for an absent arbiter to take its release: it exits at once, its copy kept", async () => {
  const own = testPaths("xfault-interrupt");
  // A lease far longer than the bound below: only the interrupt can end the receiver's wait in time.
  const host = await ArbiterProcess.start(own, { size: "16MiB", lease: "30s" });
  const out = outPath(own, "kept.out");
  const receiver = guest(own, ["recv", "--out", out]);
  const sender = guest(own, ["send", "-", "--chunk-size", "64KiB"]);
  try {
    const bytes = new Uint8Array(2 << 20).fill(9);
    sender.proc.stdin.write(bytes.subarray(0, 1 << 20));
    await sender.proc.stdin.flush();
    await waitForSize(`${out}.partial`, 1 << 20);
    await host.kill9();
    sender.proc.stdin.write(bytes.subarray(1 << 20));
    await sender.proc.stdin.end();
    // The copy is kept under its name before the receiver releases its ring: from then on it waits.
    await eventually(async () => Bun.file(out).exists(), livenessBoundMs(LEASE_MS), "the copy kept");
    receiver.proc.kill("SIGINT");
    expect(await receiver.exit(livenessBoundMs(LEASE_MS))).toBe(0);
    expect(sameBytes(new Uint8Array(await Bun.file(out).arrayBuffer()), bytes)).toBe(true);
  } finally {
    sender.proc.kill("SIGKILL");
    await host.stop();
    own.cleanup();
  }
}, 60_000);

test("a 2 GiB chunk (the largest the layout allows) is read back from its slot word as 2 GiB, not as a negative", async () => {
  const [sending, receiving] = await Promise.all(
    ["announcing sender", "reading receiver"].map((name) =>
      connect({ socket: suite.socket, region: suite.region, name }),
    ),
  );
  const sender = await ChannelSender.open(sending!, "wide", { chunkBytes: 65536, depth: 4 });
  // A 2 GiB ring needs a region of over 4 GiB: the slot announces it, the 64 MiB test region's ring
  // segment cannot hold it, and the receiver's refusal shows what it read.
  sender.slot.store("chunkBytes", 2 ** 31);
  await expectRejection(
    ChannelReceiver.open(receiving!, "wide"),
    "RegionCorrupted",
    /a ring of 4 × 2147483648 bytes does not fit its/,
  );
  await sender.close().catch(() => {});
  await Promise.all([sending!.close(), receiving!.close()]);
});

test("a transfer number past 2^31 - 1 wraps to 1: both ends read the slot word alike and name the same ring", async () => {
  const [sending, receiving] = await Promise.all(
    ["wrapping sender", "wrapping receiver"].map((name) =>
      connect({ socket: suite.socket, region: suite.region, name }),
    ),
  );
  // The receiver holds the channel's slot while it waits; the slot then reads as after 2^31 - 1 transfers.
  const opening = ChannelReceiver.open(receiving!, "wrap");
  const setTransfer = async () => {
    await writeChannelWord("wrap", "transfer", () => 2 ** 31 - 1); // nothing until the receiver claimed the slot
    return (await writeChannelWord("wrap", "transfer", (value) => value)) === 2 ** 31 - 1;
  };
  await eventually(setTransfer, livenessBoundMs(LEASE_MS), "the slot's transfer number set");
  const sender = await ChannelSender.open(sending!, "wrap", { chunkBytes: 65536, depth: 4 });
  const receiver = await opening;
  expect(receiver.transfer).toBe(sender.transfer);
  await sender.write(new Uint8Array(1000).fill(9));
  const finishing = sender.finish();
  let received = 0;
  for (
    let length = await receiver.receive(() => {});
    length !== undefined;
    length = await receiver.receive(() => {})
  )
    received += length;
  expect(received).toBe(1000);
  expect((await finishing).bytes).toBe(1000);
  await receiver.close();
  await sender.close();
  await Promise.all([sending!.close(), receiving!.close()]);
});
