/**
 * A receiver stopped (Ctrl-Z, SIGSTOP) across its --timeout while a sender published its transfer, and
 * the arbiter killed meanwhile: continued, it joins the transfer (a8aa0cd9: the limit waits for that), but
 * its ring opens only through the arbiter. Counted there from the join on, the sender let the limit pass
 * without a look at the arbiter, and the open waited the client's 30 s reconnect timeout, ten times the
 * user's --timeout. The arbiter's absence counts against the limit until the ring is open, as it does
 * before the join.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { fetchStatus } from "../src/guest/inspect.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, exitOrKill, livenessBoundMs } from "./helpers/processes.ts";
import { guestSaying, outPath, randomFile } from "./helpers/transfer.ts";

const LIMIT_MS = 3000;
const WITHIN_MS = livenessBoundMs(LIMIT_MS);

test("a receiver stopped across its --timeout while the arbiter died gives up naming the arbiter within its limit's bound", async () => {
  const own = testPaths("recv-limit-arbiter-killed");
  const host = await ArbiterProcess.start(own, { size: "16MiB", lease: "20s" });
  const input = join(own.dir, "killed.in");
  await randomFile(input, 100_000);
  const receiver = guestSaying(own, [
    "recv",
    "-q",
    "--channel",
    "killed",
    "--out",
    outPath(own, "killed.out"),
    "--timeout",
    `${LIMIT_MS / 1000}s`,
  ]);
  let sender: ReturnType<typeof guestSaying> | undefined;
  try {
    const parked = async () =>
      (await fetchStatus({ unix: own.socket })).report.sync.some((slot) => slot.waiters > 0);
    await eventually(parked, WITHIN_MS, "the receiver parked on its channel");
    const dueBy = performance.now() + LIMIT_MS;
    receiver.proc.kill("SIGSTOP");
    sender = guestSaying(own, ["send", input, "--channel", "killed", "--progress"]);
    const { said } = sender;
    await eventually(
      async () => said.text.includes("waiting for a receiver"),
      WITHIN_MS,
      "the transfer published",
    );
    await host.kill9();
    await Bun.sleep(Math.max(0, dueBy + 500 - performance.now()));
    receiver.proc.kill("SIGCONT");
    // Before: ["late", ""] (its ring's open waited the 30 s reconnect timeout).
    expect([await exitOrKill(receiver.proc, WITHIN_MS), receiver.said.text]).toEqual([
      1,
      expect.stringMatching(/Failed to receive on channel 'killed' since the arbiter went away/),
    ]);
  } finally {
    receiver.proc.kill("SIGKILL");
    sender?.proc.kill("SIGKILL");
    await host.stop();
    own.cleanup();
  }
}, 60_000);
