/**
 * The arbiter's absence is said once per change (src/commands/_arbiter-watch.ts): an end whose progress
 * goes to a pipe or file (one line per change, not a redrawn terminal line) that waits while its arbiter
 * is stopped says "stopped answering" once, not again at each of the watch's looks (4 a second), and
 * "waiting for a sender" once more when the arbiter answers again. Real processes.
 */
import { expect, test } from "bun:test";
import { CLI } from "./helpers/paths.ts";
import { eventually } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { clientEnv } from "./helpers/transfer.ts";

const SAID_WITHIN_MS = 15_000;
/** Long enough for the watch (every 250 ms) to look several times while the line stays the same. */
const STOPPED_FOR_MS = 2000;
const suite = sharedArbiter("xaway-once", { lease: "2000ms" });

function count(text: string, part: string): number {
  return text.split(part).length - 1;
}

test("an arbiter stopped a while is said once on a plain progress line, and its return once", async () => {
  const receiver = Bun.spawn(
    [
      process.execPath,
      CLI,
      "guest",
      "recv",
      "--channel",
      "once",
      "--out",
      "-",
      "--timeout",
      "5m",
      "--progress",
    ],
    { env: { ...process.env, NO_COLOR: "1", ...clientEnv(suite.paths) }, stdout: "ignore", stderr: "pipe" },
  );
  let said = "";
  const decoder = new TextDecoder();
  (async () => {
    for await (const chunk of receiver.stderr) said += decoder.decode(chunk, { stream: true });
  })();
  const says = (part: string, times: number) =>
    eventually(
      async () => count(said, part) >= times,
      SAID_WITHIN_MS,
      `'${part}' ${times}x (it said: ${said})`,
    );
  try {
    await says("waiting for a sender", 1);
    process.kill(suite.arbiter.pid, "SIGSTOP");
    try {
      await says("which has stopped answering", 1);
      await Bun.sleep(STOPPED_FOR_MS);
    } finally {
      process.kill(suite.arbiter.pid, "SIGCONT");
    }
    await says("waiting for a sender", 2);
    expect(count(said, "which has stopped answering"), said).toBe(1);
    expect(count(said, "waiting for a sender"), said).toBe(2);
  } finally {
    receiver.kill("SIGKILL");
    await receiver.exited;
  }
}, 90_000);
