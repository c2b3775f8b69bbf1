/**
 * A command the user interrupts (Ctrl-C, SIGTERM) says so in a plain line, not under the ERROR label: the
 * stop was asked for, not a failure ("[ivsh] ERROR Failed to wait on channel 'c' since it was interrupted
 * by SIGINT" read as something gone wrong). Its exit code still says the signal (128 + N); a failure (the
 * --timeout's) keeps its label. Real processes throughout.
 */
import { expect, test } from "bun:test";
import { eventually, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { idleEnd } from "./helpers/transfer.ts";

const suite = sharedArbiter("lo14-interrupted-notice");
/** Liveness bound, nothing tighter. */
const WITHIN_MS = 30_000;

for (const [signal, code] of [
  ["SIGINT", 130],
  ["SIGTERM", 143],
] as const)
  test(`guest recv interrupted by ${signal} while it waits: exit ${code}, a plain line, no ERROR`, async () => {
    const channel = `notice-${signal}`;
    const { proc, said } = idleEnd(suite.paths, "recv", channel, "10m");
    try {
      await eventually(async () => said.text.includes("waiting for a sender"), WITHIN_MS, "recv waiting");
      proc.kill(signal);
      expect(await exitOrKill(proc, WITHIN_MS)).toBe(code);
      const line = said.text.split("\n").find((text) => text.includes(`interrupted by ${signal}`));
      // Before: "[ivsh] ERROR Failed to wait on channel 'notice-SIGINT' since it was interrupted by SIGINT".
      expect(line).toBe(
        `[ivsh] Failed to wait on channel '${channel}' since it was interrupted by ${signal}`,
      );
      expect(said.text).not.toContain("ERROR");
    } finally {
      proc.kill("SIGKILL");
    }
  }, 60_000);

test("a recv that fails (its --timeout passes, no sender) keeps the ERROR label", async () => {
  const { proc, said } = idleEnd(suite.paths, "recv", "notice-failed", "500ms");
  try {
    expect(await exitOrKill(proc, WITHIN_MS)).toBe(1);
    expect(said.text).toContain(
      "[ivsh] ERROR Failed to receive on channel 'notice-failed' since no sender showed up",
    );
  } finally {
    proc.kill("SIGKILL");
  }
}, 60_000);
