/**
 * A receiver stopped (Ctrl-Z, SIGSTOP) or starved across its --timeout while a sender published its
 * transfer: continued, its wait limit is found passed before the sender's wake is read. It gave up "no
 * sender showed up within 3 s (--timeout)" though one had, within the limit, and its transfer was there
 * to join; the sender then waited on for a receiver. Found by delaying the receiver between seeing the
 * transfer and joining it (a loaded CI machine's gap): a transfer waiting to be joined is a sender there.
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

test("a receiver stopped across its --timeout while a sender published joins that transfer, and both exit 0", async () => {
  const own = testPaths("recv-limit-sender-waiting");
  const host = await ArbiterProcess.start(own, { size: "16MiB", lease: `${LEASE_MS}ms` });
  const input = join(own.dir, "waiting.in");
  const data = await randomFile(input, 100_000);
  const output = outPath(own, "waiting.out");
  const limit = `${LIMIT_MS / 1000}s`;
  const receiver = guestSaying(own, [
    "recv",
    "-q",
    "--channel",
    "waiting",
    "--out",
    output,
    "--timeout",
    limit,
  ]);
  let sender: ReturnType<typeof guestSaying> | undefined;
  try {
    // Parked on its slot: its wait limit was armed before, so it is due LIMIT_MS from now at the latest.
    const parked = async () =>
      (await fetchStatus({ unix: own.socket })).report.sync.some((slot) => slot.waiters > 0);
    await eventually(parked, WITHIN_MS, "the receiver parked on its channel");
    const dueBy = performance.now() + LIMIT_MS;
    receiver.proc.kill("SIGSTOP");
    sender = guestSaying(own, ["send", input, "--channel", "waiting", "--progress"]);
    const { said } = sender;
    // Said once its transfer is published in the slot (its ring in `ivsh status` comes before that).
    await eventually(
      async () => said.text.includes("waiting for a receiver"),
      WITHIN_MS,
      "the transfer published",
    );
    await Bun.sleep(Math.max(0, dueBy + 500 - performance.now()));
    receiver.proc.kill("SIGCONT");
    // Before: 1, "Failed to receive on channel 'waiting' since no sender showed up within 3 s (--timeout)".
    expect([await exitOrKill(receiver.proc, WITHIN_MS), receiver.said.text]).toEqual([0, ""]);
    expect(await exitOrKill(sender.proc, WITHIN_MS)).toBe(0);
    expect(sameBytes(readFileSync(output), data)).toBe(true);
  } finally {
    receiver.proc.kill("SIGKILL");
    sender?.proc.kill("SIGKILL");
    await host.stop();
    own.cleanup();
  }
}, 60_000);
