/**
 * Ctrl-C on `ivsh guest recv --out - | consumer` reaches both at once: the consumer's death closes the pipe,
 * and the receiver's own SIGINT is still on its way to its listener. The mirror of the sender's rule (an
 * interruption wins over the end of input it caused, test/transfer-faults.test.ts): the receiver exits
 * 130 saying it was interrupted, not 1 blaming the reader for leaving.
 */
import { expect, test } from "bun:test";
import { fetchStatus } from "../src/guest/inspect.ts";
import { CLI } from "./helpers/paths.ts";
import { eventually, exitOrKill, livenessBoundMs } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { clientEnv, guest } from "./helpers/transfer.ts";

const LEASE_MS = 5000;
const suite = sharedArbiter("recv-int", { size: "64MiB", lease: `${LEASE_MS}ms` });

async function nothingHeld(): Promise<boolean> {
  const { report } = await fetchStatus({ unix: suite.socket });
  return report.blocks.used === 0 && report.segments.length === 0;
}

for (const attempt of [1, 2, 3, 4])
  test(`SIGINT, then its reader's pipe closed in the same instant (${attempt}): exit 130, interrupted`, async () => {
    const channel = `reader-int-${attempt}`;
    // Its stdout is ours to read, or to stop reading.
    const receiver = Bun.spawn([process.execPath, CLI, "guest", "recv", "--channel", channel, "--out", "-"], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...clientEnv(suite.paths) },
    });
    const stderrText = new Response(receiver.stderr).text();
    const sender = guest(suite.paths, ["send", "-", "--channel", channel, "--chunk-size", "64KiB"]);
    // More than the pipe and the ring hold: the receiver waits on a full stdout the test does not read.
    sender.proc.stdin.write(new Uint8Array(16 << 20).fill(1));
    // Not awaited: the sender takes it as the ring drains; killed at the end, its EPIPE is not ours.
    void Promise.resolve(sender.proc.stdin.flush()).catch(() => {});
    const reader = receiver.stdout.getReader();
    const first = await reader.read(); // data came through: the stream is under way
    expect(first.done).toBe(false);
    await Bun.sleep(200);
    // As Ctrl-C in a terminal: our signal is on its way when the consumer's death closes the pipe.
    receiver.kill("SIGINT");
    await reader.cancel();
    const stderr = await stderrText;
    expect(await exitOrKill(receiver, livenessBoundMs(LEASE_MS)), stderr).toBe(130);
    expect(stderr).toContain("interrupted by SIGINT");
    expect(stderr).not.toContain("EPIPE");
    sender.proc.kill("SIGKILL");
    await sender.exit();
    await eventually(nothingHeld, livenessBoundMs(LEASE_MS), "the ring freed");
  });
