/**
 * A receiver resumed from a stop (Ctrl-Z, then fg) finds a sender's transfer to join and confirms its
 * lease first (1515fa7: an expired session had joined it). With the arbiter itself stopped meanwhile (a
 * frozen host), that confirmation is never answered: Ctrl-C then went unheeded until the client gave up
 * on the silent arbiter, the 30 s reconnect timeout later. Real processes throughout.
 */
import { expect, test } from "bun:test";
import { DEFAULT_RECONNECT_TIMEOUT_MS } from "../src/guest/connect-options.ts";
import { eventually, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { idleEnd } from "./helpers/transfer.ts";

/** Long enough that the stopped receiver's session outlives the test's steps while the arbiter runs. */
const LEASE_MS = 10_000;
const suite = sharedArbiter("join-interrupted", { lease: `${LEASE_MS}ms` });
/** A liveness bound, nothing tighter. */
const WITHIN_MS = 30_000;
/** How long the interrupted receiver may take to exit: many seconds, yet short of the reconnect timeout. */
const BEFORE_SILENCE_ENDS_MS = DEFAULT_RECONNECT_TIMEOUT_MS - 10_000;

test("recv resumed from a stop, finding a transfer to join while the arbiter is stopped, ends on Ctrl-C", async () => {
  const channel = "join-interrupted";
  const { proc, said } = idleEnd(suite.paths, "recv", channel, "120s");
  let sender: ReturnType<typeof idleEnd> | undefined;
  let arbiterStopped = false;
  try {
    await eventually(async () => said.text.includes("waiting for a sender"), WITHIN_MS, "recv waiting");
    process.kill(proc.pid, "SIGSTOP");
    // The sender publishes its transfer while the receiver cannot join it.
    sender = idleEnd(suite.paths, "send", channel, "120s");
    const senderSaid = sender.said;
    await eventually(
      async () => senderSaid.text.includes("waiting for a receiver"),
      WITHIN_MS,
      "send waiting",
    );
    process.kill(suite.arbiter.pid, "SIGSTOP");
    arbiterStopped = true;
    // Stopped past half its lease: resumed, it confirms its lease before joining, and nothing answers.
    await Bun.sleep(LEASE_MS / 2 + 1000);
    process.kill(proc.pid, "SIGCONT");
    await Bun.sleep(1000); // not needed for the verdict: the Ctrl-C may come before the confirmation, too
    process.kill(proc.pid, "SIGINT");
    // Before: 'late' (it exited only once the client gave up on the silent arbiter, after 30 s).
    const exited = await exitOrKill(proc, BEFORE_SILENCE_ENDS_MS);
    expect(exited).toBe(130);
    expect(said.text).toContain("interrupted by SIGINT");
  } finally {
    if (arbiterStopped) process.kill(suite.arbiter.pid, "SIGCONT");
    proc.kill("SIGKILL");
    sender?.proc.kill("SIGKILL");
  }
}, 90_000);

test("send - resumed from a stop, its input arriving while the arbiter is stopped, ends on Ctrl-C", async () => {
  const channel = "send-interrupted";
  const { proc, said } = idleEnd(suite.paths, "send", channel, "120s");
  let arbiterStopped = false;
  try {
    await eventually(async () => said.text.includes("waiting for a receiver"), WITHIN_MS, "send waiting");
    process.kill(proc.pid, "SIGSTOP");
    process.kill(suite.arbiter.pid, "SIGSTOP");
    arbiterStopped = true;
    // Stopped past half its lease: resumed, it confirms its lease before it fills the ring, and nothing answers.
    await Bun.sleep(LEASE_MS / 2 + 1000);
    process.kill(proc.pid, "SIGCONT");
    proc.stdin.write(new Uint8Array(100_000).fill(7));
    proc.stdin.flush();
    await Bun.sleep(1000); // not needed for the verdict: the Ctrl-C may come before the confirmation, too
    process.kill(proc.pid, "SIGINT");
    // Before: 'late' (it exited only once the client gave up on the silent arbiter, after 30 s).
    const exited = await exitOrKill(proc, BEFORE_SILENCE_ENDS_MS);
    expect(exited).toBe(130);
    expect(said.text).toContain("interrupted by SIGINT");
  } finally {
    if (arbiterStopped) process.kill(suite.arbiter.pid, "SIGCONT");
    proc.kill("SIGKILL");
  }
}, 90_000);
