/**
 * When an undecided transfer's end stops waiting for its release (src/transfer/release-end.ts), against an
 * arbiter that is stopped (SIGSTOP, a frozen host), not dead: its connection stays open and greeted, so
 * only the lease tells it from a slow one. Interrupted, the end awaits its release while the arbiter may
 * merely be slow, and gives it up at once when it is in doubt (half a lease unanswered); failed otherwise,
 * it gives it up a lease after that, not at the client's reconnect timeout. The arbiter is a process of
 * its own (./helpers/stopped-arbiter.ts); the end runs here, its client reconnecting for longer than any
 * test waits. (A given-up release refused later, its rejection handled: test/journal-full-decided.test.ts.)
 */
import { describe, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { receiveStream } from "../src/transfer/run.ts";
import { Sink } from "../src/transfer/sink.ts";
import { eventually, livenessBoundMs } from "./helpers/processes.ts";
import { type SharedArbiter, sharedArbiter } from "./helpers/shared-arbiter.ts";
import {
  RECONNECT_MS,
  sendAwaitingReceiver,
  stopArbiter,
  type Watched,
  watched,
} from "./helpers/stopped-arbiter.ts";
import { guest, outPath, randomFile } from "./helpers/transfer.ts";

/** The transfer's outcome if it settles within `boundMs`, else "still waiting". */
async function within(transfer: Watched, boundMs: number) {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<"still waiting">((resolve) => {
    timer = setTimeout(() => resolve("still waiting"), boundMs);
  });
  try {
    return await Promise.race([transfer.outcome, late]);
  } finally {
    clearTimeout(timer);
  }
}

describe("interrupted", () => {
  /** Long: half of it (the doubt) is far beyond the test's look while the arbiter may only be slow. */
  const LEASE_MS = 20_000;
  const suite: SharedArbiter = sharedArbiter("mut33-given-up-long", { lease: `${LEASE_MS}ms` });

  test("a send interrupted while its arbiter is stopped, not yet in doubt, awaits its release until the arbiter answers", async () => {
    const stop = new AbortController();
    const end = await sendAwaitingReceiver(suite, "given-up-slow", stop.signal);
    const arbiter = stopArbiter(suite.arbiter);
    try {
      stop.abort();
      // Not in doubt for a third of a lease at least (its last answer came a sixth of one before the stop):
      // the arbiter may be slow, not away, and the ring and role it holds are still asked back.
      await Bun.sleep(1000);
      // Before: settled at once, its release left unanswered.
      expect({ settled: end.send.settled, inDoubt: end.client.leaseInDoubt() }).toEqual({
        settled: false,
        inDoubt: false,
      });
      arbiter.resume();
      expect(await within(end.send, livenessBoundMs(LEASE_MS))).toEqual(
        expect.objectContaining({ code: "Interrupted" }),
      );
      // Answered: the channel's ring is gone from the arbiter's segments.
      const { segments } = await end.client.status();
      expect(segments.filter((segment) => segment.name?.startsWith("channel:given-up-slow:"))).toEqual([]);
    } finally {
      arbiter.resume();
      await end.close();
    }
  }, 60_000);

  test("a send interrupted once its stopped arbiter is in doubt gives its release up at once", async () => {
    const stop = new AbortController();
    const end = await sendAwaitingReceiver(suite, "given-up-away", stop.signal);
    const arbiter = stopArbiter(suite.arbiter);
    try {
      await eventually(async () => end.client.leaseInDoubt(), LEASE_MS, "the end's lease in doubt");
      stop.abort();
      // Away and interrupted: given up at its first look. Before: still waiting, a lease long.
      expect(await within(end.send, LEASE_MS / 2)).toEqual(expect.objectContaining({ code: "Interrupted" }));
    } finally {
      arbiter.resume();
      await end.close();
    }
  }, 60_000);
});

describe("failed", () => {
  const LEASE_MS = 2000;
  const suite: SharedArbiter = sharedArbiter("mut33-given-up-short", { lease: `${LEASE_MS}ms` });

  test("a receive whose file write fails as its arbiter stops tells its failure a lease after the doubt, not at the reconnect timeout", async () => {
    const channel = "given-up-failed";
    const input = outPath(suite.paths, `${channel}.in`);
    await randomFile(input, 1 << 20);
    const client = await connect({
      socket: suite.socket,
      region: suite.region,
      name: "receiver",
      reconnectTimeoutMs: RECONNECT_MS,
    });
    const sink = Sink.open(outPath(suite.paths, `${channel}.out`));
    let arbiter: ReturnType<typeof stopArbiter> | undefined;
    // The first chunk's write: the arbiter stopped before it fails, so the release meets a stopped arbiter.
    sink.write = async () => {
      arbiter ??= stopArbiter(suite.arbiter);
      throw new Error("the test's disk failed");
    };
    const sender = guest(suite.paths, ["send", "-q", "--channel", channel, input]);
    try {
      const received = watched(receiveStream(client, channel, sink));
      // Before: still waiting at the bound, for the client's own give-up (RECONNECT_MS).
      expect(await within(received, livenessBoundMs(LEASE_MS))).toEqual(
        expect.objectContaining({ message: "the test's disk failed" }),
      );
      expect(arbiter).toBeDefined();
    } finally {
      sender.proc.kill("SIGKILL");
      arbiter?.resume();
      sink.close();
      await client.close({ waitForArbiter: false });
    }
  }, 60_000);
});
