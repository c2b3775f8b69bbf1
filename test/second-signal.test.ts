/**
 * A second stop signal has its default effect: a `guest` command whose clean-up hangs (its arbiter is
 * stopped, so the goodbye and the release of its channel wait for an answer) ends at the second SIGTERM,
 * as the first one's handler promised by uninstalling itself. Kept installed, the handler took the second
 * signal too and the command went on waiting, deaf to everything but SIGKILL.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { fetchStatus } from "../src/guest/inspect.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EXIT_BOUND_MS, eventually, exitOrKill } from "./helpers/processes.ts";
import { guest } from "./helpers/transfer.ts";

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

test("recv interrupted while its arbiter is stopped: the second SIGTERM ends it at once", async () => {
  const receiver = guest(paths, ["recv", "-q", "--channel", "second-signal", "--out", "/dev/null"]);
  await eventually(
    async () => (await fetchStatus({ unix: paths.socket })).report.sync.length > 0,
    EXIT_BOUND_MS,
    "the receiver holding its channel",
  );
  process.kill(arbiter.pid, "SIGSTOP");
  try {
    receiver.proc.kill("SIGTERM"); // its clean-up now waits for the stopped arbiter
    await Bun.sleep(2000); // handled by then; two signals sent at once may merge into one
    receiver.proc.kill("SIGTERM");
    expect(await exitOrKill(receiver.proc, 15_000)).not.toBe("late");
    expect(receiver.proc.signalCode).toBe("SIGTERM");
  } finally {
    process.kill(arbiter.pid, "SIGCONT");
  }
}, 60_000);
