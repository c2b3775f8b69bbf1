/**
 * A sender frozen past its lease after its end record is out (a paused VM), while its receiver verifies,
 * keeps and confirms the stream. By the time the sender resumes, the arbiter has ended its session and
 * freed the slot that held the verdict, so it cannot learn the outcome (docs/layout.md, the windows the
 * protocol cannot close): it must say so, not that the send failed, while the receiver keeps the file.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { fetchStatus } from "../src/guest/inspect.ts";
import { clientConfig, eventually, livenessBoundMs, spawnFixture } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest, outPath } from "./helpers/transfer.ts";

const LEASE_MS = 2000;
const suite = sharedArbiter("xverdictfreeze", { lease: `${LEASE_MS}ms` });

test("a sender frozen past its lease while it waits for the verdict: the receiver keeps the file, the sender says the outcome is unknown", async () => {
  const bytes = 100_000;
  const output = outPath(suite.paths, "verdict-freeze.out");
  const receiver = guest(suite.paths, ["recv", "--channel", "verdict-freeze", "--out", output]);
  const sender = spawnFixture(
    "frozen-finisher",
    clientConfig(suite.paths, { channel: "verdict-freeze", bytes }),
  );
  try {
    await sender.events.next("written");
    // Stopped, the receiver cannot give its verdict before the sender is frozen in its wait for it.
    receiver.proc.kill("SIGSTOP");
    sender.proc.stdin.write("finish\n");
    await sender.proc.stdin.flush();
    const { clientId } = (await sender.events.next("ended")) as { clientId: number };
    receiver.proc.kill("SIGCONT");
    const received = await receiver.exit(livenessBoundMs(LEASE_MS));
    // The arbiter expires the frozen sender's session.
    await eventually(
      async () =>
        !(await fetchStatus({ unix: suite.socket })).report.clients.some(
          (each) => each.clientId === clientId,
        ),
      livenessBoundMs(LEASE_MS),
      "the frozen sender's session expiring",
    );
    sender.proc.kill("SIGCONT");
    const result = (await sender.events.next("result")) as { ok: boolean; code?: string; message?: string };
    expect(received).toBe(0);
    expect(readFileSync(output).every((byte) => byte === 9)).toBe(true);
    expect(result.ok).toBe(false);
    // Before: "Failed to keep client N's session since … (lease expired)", read as the send having failed.
    expect(result.code).toBe("LeaseExpired");
    expect(result.message).toMatch(
      /^Failed to learn the outcome of the send on channel 'verdict-freeze' since this sender's session ended while it waited for the receiver's verdict .*the receiver may have kept the whole stream or given it up/,
    );
  } finally {
    receiver.proc.kill("SIGCONT");
    sender.proc.kill("SIGKILL");
  }
}, 60_000);

// Found by a review: a sender no receiver ever joined said "the receiver may have kept the whole stream",
// speaking of a receiver it never saw.
test("a sender no receiver joined, frozen past its lease after its end record: it says none had joined", async () => {
  const sender = spawnFixture(
    "frozen-finisher",
    clientConfig(suite.paths, { channel: "verdict-freeze-alone", bytes: 1000, alone: true }),
  );
  try {
    await sender.events.next("written");
    sender.proc.stdin.write("finish\n");
    await sender.proc.stdin.flush();
    const { clientId } = (await sender.events.next("ended")) as { clientId: number };
    await eventually(
      async () =>
        !(await fetchStatus({ unix: suite.socket })).report.clients.some(
          (each) => each.clientId === clientId,
        ),
      livenessBoundMs(LEASE_MS),
      "the frozen sender's session expiring",
    );
    sender.proc.kill("SIGCONT");
    const result = (await sender.events.next("result")) as { ok: boolean; code?: string; message?: string };
    expect(result.ok).toBe(false);
    expect(result.code).toBe("LeaseExpired");
    expect(result.message).toMatch(
      /since this sender's session ended while it waited for a receiver .*no receiver had joined before this sender stopped/,
    );
    expect(result.message).not.toContain("the receiver may have kept");
  } finally {
    sender.proc.kill("SIGKILL");
  }
}, 60_000);
