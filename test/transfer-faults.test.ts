/**
 * Regressions for faults found outside the hand-picked points of transfer-failures.test.ts: a receiver
 * that goes away while its sender reads a slow pipe, an interruption that arrives together with the EOF
 * it caused, and an interruption in the window between the end record and the receiver's verdict.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { connect, isIvshError } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { ChannelState } from "../src/region/layout.ts";
import { ChannelReceiver } from "../src/transfer/receiver.ts";
import { ChannelSender } from "../src/transfer/sender.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, livenessBoundMs } from "./helpers/processes.ts";
import { guest, outPath, waitForSize } from "./helpers/transfer.ts";

const LEASE_MS = 2000;
let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("xfault");
  arbiter = await ArbiterProcess.start(paths, { size: "64MiB", lease: `${LEASE_MS}ms` });
});
beforeEach(() => arbiter.revive());
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/** Nothing of any transfer is left: no blocks, segments, slots or clients. */
async function expectNothingHeld(): Promise<void> {
  const released = async () => {
    const { report, self } = await fetchStatus({ unix: paths.socket });
    const others = report.clients.filter((client) => client.clientId !== self);
    return report.blocks.used === 0 && report.sync.length === 0 && others.length === 0;
  };
  await eventually(released, livenessBoundMs(LEASE_MS), "releasing every block, slot and client");
}

/** Waits until someone is parked on the channel: the receiver waiting for data, or the sender for a verdict. */
async function channelHasWaiter(channel: string): Promise<void> {
  const parked = async () => {
    const { report } = await fetchStatus({ unix: paths.socket });
    return report.sync.some((object) => object.name === `channel:${channel}` && object.waiters > 0);
  };
  await eventually(parked, livenessBoundMs(LEASE_MS), `someone parking on channel '${channel}'`);
}

/** Waits until the receiver has joined the sender's transfer (both hold its ring). */
async function transferJoined(channel: string): Promise<void> {
  const joined = async () => {
    const { report } = await fetchStatus({ unix: paths.socket });
    const ring = report.segments.find((segment) => segment.name.startsWith(`channel:${channel}:`));
    return ring?.holders.length === 2;
  };
  await eventually(joined, livenessBoundMs(LEASE_MS), `the receiver joining channel '${channel}'`);
}

/** Writes `piece` to a process's stdin every `everyMs` until stopped, as a slow producer does. */
function trickle(sink: { write(bytes: Uint8Array): unknown; flush(): unknown }, everyMs: number) {
  const piece = new Uint8Array(64 << 10).fill(42);
  const timer = setInterval(() => {
    try {
      sink.write(piece);
      sink.flush();
    } catch {} // the reader may be gone: that is what the test is about
  }, everyMs);
  return () => clearInterval(timer);
}

describe("a stdin sender whose receiver goes away", () => {
  for (const signal of ["SIGKILL", "SIGINT"] as const) {
    test(`receiver ${signal}ed while the sender waits on a slow pipe: the sender exits 1 naming it`, async () => {
      const channel = `slow-${signal}`;
      const output = outPath(paths, `${channel}.out`);
      const receiver = guest(paths, ["recv", "--channel", channel, "--out", output]);
      const sender = guest(paths, ["send", "-", "--channel", channel]);
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
      expect(await sender.stderr).toMatch(/the receiver \(client \d+\) (died|went away)/);
      await expectNothingHeld();
    });
  }
});

describe("an interruption wins over the end of input it caused", () => {
  for (const mebibytes of [0, 1, 3, 8]) {
    test(`SIGINT, then EOF in the same instant, after ${mebibytes} MiB: exit 130 and only FILE.partial`, async () => {
      const channel = `eof-${mebibytes}`;
      const output = outPath(paths, `${channel}.out`);
      const receiver = guest(paths, ["recv", "--channel", channel, "--out", output]);
      const sender = guest(paths, ["send", "-", "--channel", channel]);
      await transferJoined(channel); // both ends are up and attached: what follows is mid-stream
      if (mebibytes > 0) sender.proc.stdin.write(new Uint8Array(mebibytes << 20).fill(mebibytes));
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
  const output = outPath(paths, "window.out");
  const receiver = guest(paths, ["recv", "--channel", "window", "--out", output]);
  const sender = guest(paths, ["send", "-", "--channel", "window"]);
  sender.proc.stdin.write(new Uint8Array(1 << 20).fill(9));
  await sender.proc.stdin.flush();
  await waitForSize(`${output}.partial`, 1 << 20);
  receiver.proc.kill("SIGSTOP"); // it will find the end record only after the sender gave up
  await sender.proc.stdin.end();
  await channelHasWaiter("window"); // the sender, parked for the verdict

  sender.proc.kill("SIGINT");
  expect(await sender.exit()).toBe(130);
  receiver.proc.kill("SIGCONT");
  expect(await receiver.exit()).toBe(1);
  expect(await receiver.stderr).toMatch(/abandoned the transfer/);
  expect(await Bun.file(output).exists()).toBe(false);
  expect(Bun.file(`${output}.partial`).size).toBe(1 << 20);
  await expectNothingHeld();
});

test("a sender abandoning while the receiver keeps a verified stream: one CAS decides, the receiver undoes", async () => {
  const [sending, receiving] = await Promise.all(
    ["abandoning sender", "keeping receiver"].map((name) =>
      connect({ socket: paths.socket, region: paths.region, name }),
    ),
  );
  const sender = await ChannelSender.open(sending!, "cas", { chunkBytes: 65536, depth: 4 });
  const undone: string[] = [];
  // The sender's abandon lands exactly in the window: after the digest matched, before the verdict.
  const keeper = {
    keep: () => {
      undone.push("kept");
      sender.slot.compareExchange("state", ChannelState.streaming, ChannelState.abandoned);
    },
    undo: () => undone.push("undone"),
  };
  const receiver = await ChannelReceiver.open(receiving!, "cas", { keeper });
  await sender.write(new Uint8Array(100_000).fill(5));
  const finishing = sender.finish().catch((error: unknown) => error);
  let error: unknown;
  try {
    while ((await receiver.receive(() => {})) !== undefined);
  } catch (caught) {
    error = caught;
  }
  expect(isIvshError(error, "PeerGone")).toBe(true);
  expect(undone).toEqual(["kept", "undone"]);
  expect(isIvshError(await finishing, "RegionCorrupted")).toBe(true); // abandoned was not its own doing
  await receiver.close();
  await sender.close();
  await Promise.all([sending!.close(), receiving!.close()]);
  await expectNothingHeld();
});
