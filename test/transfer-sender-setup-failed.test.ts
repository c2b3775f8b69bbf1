/**
 * A sender that fails to set up its ring (the region or its quota too small) tells the receiver waiting
 * on its channel why, in the channel's slot (layout.ts setupFailureNote). Before, the receiver waited on,
 * unaware, and at its --timeout said "no sender showed up" of a sender that had come.
 */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import type { SenderSetupFailure } from "../src/transfer/index.ts";
import { ChannelReceiver } from "../src/transfer/receiver.ts";
import { eventually, livenessBoundMs } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest, guestSaying, outPath, randomFile, sameBytes } from "./helpers/transfer.ts";

const suite = sharedArbiter("lo6-setup-failed", { size: "16MiB" });
const WITHIN_MS = livenessBoundMs(5000);
/** A ring of 2 x 32 MiB: more than the 16 MiB region holds. */
const TOO_LARGE = ["--chunk-size", "32MiB", "--depth", "2"];

/** `guest send - ... TOO_LARGE` with its stdin closed: it fails at its ring's set-up, exit 1. */
async function failingSender(channel: string): Promise<string> {
  const sender = guest(suite.paths, ["send", "-", "--channel", channel, "--timeout", "30s", ...TOO_LARGE]);
  sender.proc.stdin.end();
  expect(await sender.exit()).toBe(1);
  const said = await sender.stderr;
  expect(said).toContain("with a ring of 2 chunks of 32.0 MiB"); // it failed at its set-up, not otherwise
  return said;
}

describe("a sender that could not set up its ring", () => {
  test("the waiting receiver warns, waits on, and its --timeout names the failed sender", async () => {
    const out = outPath(suite.paths, "failed-then-none.out");
    const args = ["recv", "--channel", "failed-then-none", "--out", out, "--timeout", "8s", "--progress"];
    const { proc, said } = guestSaying(suite.paths, args);
    await eventually(async () => said.text.includes("waiting for a sender"), WITHIN_MS, "recv waiting");
    await failingSender("failed-then-none");
    await eventually(
      async () => said.text.includes("could not set up its ring"),
      WITHIN_MS,
      "the receiver's warning",
    );
    expect(said.text).toMatch(
      /a sender \(client \d+\) could not set up its ring: the region had no room for its ring .*; waiting for another sender/,
    );
    // The wait is said again after the warning (run.ts: onWaiting after onSenderFailed), as the wait it is.
    const afterWarning = () => said.text.slice(said.text.indexOf("could not set up its ring"));
    await eventually(
      async () => afterWarning().includes("waiting for a sender on channel 'failed-then-none'"),
      WITHIN_MS,
      "the wait said again after the warning",
    );
    expect(await proc.exited).toBe(1);
    expect(said.text).toMatch(
      /no sender showed up within 8 s \(--timeout\); the last that came failed: a sender \(client \d+\) could not set up its ring: the region had no room/,
    );
  }, 60_000);

  test("a sender after the failed one still delivers, bit-exact", async () => {
    const input = join(suite.dir, "failed-then-ok.in");
    const data = await randomFile(input, 3 << 20);
    const out = outPath(suite.paths, "failed-then-ok.out");
    const args = ["recv", "--channel", "failed-then-ok", "--out", out, "--timeout", "60s", "--progress"];
    const { proc, said } = guestSaying(suite.paths, args);
    await eventually(async () => said.text.includes("waiting for a sender"), WITHIN_MS, "recv waiting");
    await failingSender("failed-then-ok");
    await eventually(async () => said.text.includes("could not set up"), WITHIN_MS, "the warning");
    const sender = guest(suite.paths, ["send", input, "--channel", "failed-then-ok", "-q"]);
    expect([await sender.exit(), await proc.exited]).toEqual([0, 0]);
    expect(sameBytes(new Uint8Array(await Bun.file(out).arrayBuffer()), data)).toBe(true);
  }, 60_000);

  test("a library receiver is told through onSenderFailed, and waits on", async () => {
    const client = await connect({ socket: suite.socket, region: suite.region });
    try {
      const told: SenderSetupFailure[] = [];
      let waiting = false;
      const signal = AbortSignal.timeout(WITHIN_MS);
      const opening = ChannelReceiver.open(client, "failed-library", {
        onWaiting: () => {
          waiting = true;
        },
        onSenderFailed: (failed) => told.push(failed),
        signal,
      });
      opening.catch(() => undefined);
      await eventually(async () => waiting, WITHIN_MS, "the receiver waiting");
      await failingSender("failed-library");
      await eventually(async () => told.length > 0, WITHIN_MS, "onSenderFailed");
      expect(told).toHaveLength(1);
      expect(told[0]?.reason).toBe("noSpace");
      expect(told[0]?.clientId).toBeGreaterThan(client.clientId);
      // Still waiting: a sender that then comes is joined.
      const input = join(suite.dir, "failed-library.in");
      await randomFile(input, 4096);
      const sender = guest(suite.paths, ["send", input, "--channel", "failed-library", "-q"]);
      const receiver = await opening;
      const chunks: number[] = [];
      while ((await receiver.receive((chunk) => chunks.push(chunk.byteLength))) !== undefined);
      await receiver.close();
      expect(chunks.reduce((a, b) => a + b, 0)).toBe(4096);
      expect(await sender.exit()).toBe(0);
    } finally {
      await client.close();
    }
  }, 60_000);
});

describe("a sender over its quota", () => {
  const quota = sharedArbiter("lo6-setup-quota", { size: "64MiB", extra: ["--client-quota", "4MiB"] });
  test("the waiting receiver is told the quota stopped it", async () => {
    const out = outPath(quota.paths, "over-quota.out");
    const args = ["recv", "--channel", "over-quota", "--out", out, "--timeout", "60s", "--progress"];
    const { proc, said } = guestSaying(quota.paths, args);
    await eventually(async () => said.text.includes("waiting for a sender"), WITHIN_MS, "recv waiting");
    // A ring of 8 x 1 MiB passes the 4 MiB quota (chosen: the default one would halve until it fits).
    const shape = ["--chunk-size", "1MiB", "--depth", "8"];
    const sender = guest(quota.paths, ["send", "-", "--channel", "over-quota", "--timeout", "30s", ...shape]);
    sender.proc.stdin.end();
    expect(await sender.exit()).toBe(1);
    expect(await sender.stderr).toContain("--client-quota");
    await eventually(async () => said.text.includes("could not set up"), WITHIN_MS, "the warning");
    expect(said.text).toMatch(
      /a sender \(client \d+\) could not set up its ring: its ring would pass its quota/,
    );
    proc.kill("SIGINT");
    await proc.exited;
  }, 60_000);
});
