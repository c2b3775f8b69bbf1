/**
 * A receiver stopped (Ctrl-Z, SIGSTOP) or starved across its --timeout while a sender published its
 * transfer: continued, its wait limit is found passed before the sender's wake is read.
 * - It gave up "no sender showed up within 3 s (--timeout)" though one had, within the limit, and its
 *   transfer was there to join; the sender then waited on for a receiver. Found by delaying the receiver
 *   between seeing the transfer and joining it (a loaded CI machine's gap): a transfer waiting to be
 *   joined is a sender there (a8aa0cd9).
 * - With the arbiter killed meanwhile, it joins the transfer, but its ring opens only through the arbiter.
 *   Counted there from the join on, the sender let the limit pass without a look at the arbiter, and the
 *   open waited the client's 30 s reconnect timeout, ten times the user's --timeout. The arbiter's absence
 *   counts against the limit until the ring is open, as it does before the join.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fetchStatus } from "../src/guest/inspect.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, exitOrKill, livenessBoundMs } from "./helpers/processes.ts";
import { guestSaying, outPath, randomFile, sameBytes } from "./helpers/transfer.ts";

/** The receiver's --timeout, passed while it is stopped (a stop well inside the lease). */
const LIMIT_MS = 3000;
const LEASE_MS = 20_000;
const WITHIN_MS = livenessBoundMs(LIMIT_MS);

type End = ReturnType<typeof guestSaying>;

/**
 * `guest recv --timeout 3s` on `channel` parked, then stopped; a sender publishes its transfer; `meanwhile`
 * runs; the receiver is continued half a second past its limit and handed to `judge` with the sender.
 */
async function stoppedAcrossLimit(
  channel: string,
  meanwhile: (host: ArbiterProcess) => Promise<void>,
  judge: (ends: { receiver: End; sender: End; input: Uint8Array; output: string }) => Promise<void>,
): Promise<void> {
  const own = testPaths(`recv-limit-${channel}`);
  const host = await ArbiterProcess.start(own, { size: "16MiB", lease: `${LEASE_MS}ms` });
  const inputPath = join(own.dir, `${channel}.in`);
  const input = await randomFile(inputPath, 100_000);
  const output = outPath(own, `${channel}.out`);
  const limit = `${LIMIT_MS / 1000}s`;
  const receiver = guestSaying(own, [
    "recv",
    "-q",
    "--channel",
    channel,
    "--out",
    output,
    "--timeout",
    limit,
  ]);
  let sender: End | undefined;
  try {
    // Parked on its slot: its wait limit was armed before, so it is due LIMIT_MS from now at the latest.
    const parked = async () =>
      (await fetchStatus({ unix: own.socket })).report.sync.some((slot) => slot.waiters > 0);
    await eventually(parked, WITHIN_MS, "the receiver parked on its channel");
    const dueBy = performance.now() + LIMIT_MS;
    receiver.proc.kill("SIGSTOP");
    sender = guestSaying(own, ["send", inputPath, "--channel", channel, "--progress"]);
    const { said } = sender;
    // Said once its transfer is published in the slot (its ring in `ivsh status` comes before that).
    await eventually(
      async () => said.text.includes("waiting for a receiver"),
      WITHIN_MS,
      "the transfer published",
    );
    await meanwhile(host);
    await Bun.sleep(Math.max(0, dueBy + 500 - performance.now()));
    receiver.proc.kill("SIGCONT");
    await judge({ receiver, sender, input, output });
  } finally {
    receiver.proc.kill("SIGKILL");
    sender?.proc.kill("SIGKILL");
    await host.stop();
    own.cleanup();
  }
}

test("a receiver stopped across its --timeout while a sender published joins that transfer, and both exit 0", async () => {
  await stoppedAcrossLimit(
    "waiting",
    async () => {},
    async ({ receiver, sender, input, output }) => {
      // Before: 1, "Failed to receive on channel 'waiting' since no sender showed up within 3 s (--timeout)".
      expect([await exitOrKill(receiver.proc, WITHIN_MS), receiver.said.text]).toEqual([0, ""]);
      expect(await exitOrKill(sender.proc, WITHIN_MS)).toBe(0);
      expect(sameBytes(readFileSync(output), input)).toBe(true);
    },
  );
}, 60_000);

test("a receiver stopped across its --timeout while the arbiter died gives up naming the arbiter within its limit's bound", async () => {
  await stoppedAcrossLimit(
    "killed",
    (host) => host.kill9(),
    async ({ receiver }) => {
      // Before: ["late", ""] (its ring's open waited the 30 s reconnect timeout).
      expect([await exitOrKill(receiver.proc, WITHIN_MS), receiver.said.text]).toEqual([
        1,
        expect.stringMatching(/Failed to receive on channel 'killed' since the arbiter went away/),
      ]);
    },
  );
}, 60_000);
