/**
 * Stop signals while the arbiter answers nothing (stopped with SIGSTOP):
 * - a `guest recv` waiting for its sender ends at the first SIGTERM. Its park went through the arbiter,
 *   and so did the wake its abort sends, so it waited until the client gave up on the silent arbiter
 *   (30 s); and the release of its channel then awaited that arbiter too;
 * - one interrupted mid-transfer, whose clean-up still waits for the arbiter to release its ring, ends
 *   at the second SIGTERM, as the first one's handler promised by uninstalling itself. Kept installed,
 *   the handler took the second signal too and the command went on waiting, deaf to all but SIGKILL.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { fetchStatus } from "../src/guest/inspect.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EXIT_BOUND_MS, eventually, exitOrKill } from "./helpers/processes.ts";
import { guest, tricklingTransfer } from "./helpers/transfer.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("second-signal");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("recv waiting for a sender while its arbiter is stopped: one SIGTERM ends it, exit 143", async () => {
  const receiver = guest(paths, ["recv", "-q", "--channel", "first-signal", "--out", "/dev/null"]);
  await eventually(
    async () => (await fetchStatus({ unix: paths.socket })).report.sync.length > 0,
    EXIT_BOUND_MS,
    "the receiver holding its channel",
  );
  process.kill(arbiter.pid, "SIGSTOP");
  try {
    receiver.proc.kill("SIGTERM");
    // Well inside the 30 s after which the client gives up on a silent arbiter, which ended it before.
    expect(await exitOrKill(receiver.proc, 15_000)).not.toBe("late");
    expect(receiver.proc.exitCode).toBe(143);
    expect(await receiver.stderr).toContain("interrupted by SIGTERM");
  } finally {
    process.kill(arbiter.pid, "SIGCONT");
  }
}, 60_000);

test("recv interrupted mid-transfer while its arbiter is stopped: a SIGTERM after the first ends it at once", async () => {
  const transfer = tricklingTransfer(paths, "second-signal");
  await eventually(
    async () => (await fetchStatus({ unix: paths.socket })).report.transfers.length > 0,
    EXIT_BOUND_MS,
    "the transfer under way",
  );
  process.kill(arbiter.pid, "SIGSTOP");
  try {
    const receiver = transfer.receiver.proc;
    receiver.kill("SIGTERM"); // its clean-up now waits for the stopped arbiter
    // Again until it ends: one sent before the first was handled merges with it, or meets the handler still
    // there. One sleep of 2 s before a single second signal let the clean-up's own bounded waits end first
    // on a loaded machine (exit 143, not the signal's death).
    const again = setInterval(
      () => receiver.exitCode === null && !receiver.signalCode && receiver.kill("SIGTERM"),
      100,
    );
    const ended = await exitOrKill(receiver, 15_000).finally(() => clearInterval(again));
    expect(ended).not.toBe("late");
    expect(transfer.receiver.proc.signalCode).toBe("SIGTERM");
  } finally {
    process.kill(arbiter.pid, "SIGCONT");
    transfer.sender.proc.kill("SIGKILL"); // its receiver is gone: nothing of it is under test
    await transfer.end().catch(() => {}); // the feed meets the killed sender's closed stdin (EPIPE)
  }
}, 60_000);
