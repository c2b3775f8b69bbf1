/**
 * A sender whose whole stream, end record included, is in its ring, stopped (Ctrl-Z, SIGSTOP) while it
 * waits for a receiver: a receiver that comes within the sender's lease keeps the whole copy without it.
 * Once the lease has run out and the sender is continued (fg), it cannot learn that: it must not start
 * over on a new session, which sent the file again to the next receiver on the channel (a duplicate), and
 * said "nothing had been transferred". It exits 1 saying to look on the receiving side. Real processes.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fetchStatus } from "../src/guest/inspect.ts";
import { channelProbes } from "./helpers/channel-probes.ts";
import { eventually, exitOrKill, livenessBoundMs } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest, guestSaying, outPath, randomFile, sameBytes, waitForSize } from "./helpers/transfer.ts";

/**
 * Long enough for a receiver to start and take a small file while the sender is stopped within it, on a
 * loaded machine: the case to show is the receiver that kept the stream before the sender's session ended.
 */
const LEASE_MS = 10_000;
const suite = sharedArbiter("end-kept-unseen", { lease: `${LEASE_MS}ms` });
const WITHIN_MS = livenessBoundMs(LEASE_MS);
const { endPublished, writeChannelWord } = channelProbes(suite, LEASE_MS);
/** A word of the channel's slot, as the region holds it now. */
const slotWord = (channel: string, name: "head" | "depth") =>
  writeChannelWord(channel, name, (value) => value);

async function hasSession(pid: number): Promise<boolean> {
  const { report } = await fetchStatus({ unix: suite.socket });
  return report.clients.some((client) => client.pid === pid);
}

test("a sender stopped past its lease after its whole stream was kept by a receiver does not send it again", async () => {
  const channel = "kept-unseen";
  const input = join(suite.dir, `${channel}.in`);
  // Within one ring: the sender publishes every chunk and the end record, then waits for a receiver.
  const data = await randomFile(input, 300_000);
  const output = outPath(suite.paths, `${channel}.out`);
  const { proc: sender, said } = guestSaying(suite.paths, [
    ...["send", input, "--channel", channel, "--progress", "--timeout", "120s"],
  ]);
  let second: ReturnType<typeof guest> | undefined;
  try {
    // Its end record out, not only its ring: "waiting for a receiver" is said 200 ms after the ring is
    // published, and a sender starved while it filled the ring said it before its end record. Stopped
    // then, its receiver took every chunk and waited for the end record for ever.
    await eventually(() => endPublished(channel), WITHIN_MS, "the sender's end record published");
    sender.kill("SIGSTOP");
    try {
      // The receiver joins unseen by the stopped sender and keeps the whole, verified copy.
      const receiver = guest(suite.paths, ["recv", "-q", "--channel", channel, "--out", output]);
      expect(await receiver.exit(LEASE_MS)).toBe(0);
      expect(sameBytes(readFileSync(output), data)).toBe(true);
      await eventually(
        async () => !(await hasSession(sender.pid)),
        WITHIN_MS,
        "the sender's session expiring",
      );
    } finally {
      sender.kill("SIGCONT");
    }
    // Before: it said "... nothing had been transferred, so it waits again on a new session", and the
    // next receiver on the channel got the file a second time.
    second = guest(suite.paths, ["recv", "-q", "--channel", channel, "--out", "-", "--timeout", "3s"]);
    expect(await exitOrKill(sender, WITHIN_MS)).toBe(1);
    expect(said.text).toContain("look on the receiving side before sending again");
    expect(said.text).not.toContain("waits again on a new session");
    expect(await second.exit()).toBe(1);
    expect(await second.stderr).toContain("no sender showed up within 3 s");
  } finally {
    sender.kill("SIGKILL");
    second?.proc.kill("SIGKILL");
  }
}, 90_000);

test("a sender stopped past its lease whose ring a receiver took unseen starts over, not saying nothing was transferred", async () => {
  const channel = "taken-unseen";
  const input = join(suite.dir, `${channel}.in`);
  // Larger than the ring (8 MiB for a file): the end record is not out, so the sender may start over.
  const data = await randomFile(input, 12 << 20);
  const first = outPath(suite.paths, `${channel}.first`);
  const output = outPath(suite.paths, `${channel}.out`);
  const { proc: sender, said } = guestSaying(suite.paths, [
    ...["send", input, "--channel", channel, "--progress", "--timeout", "120s"],
  ]);
  let second: ReturnType<typeof guest> | undefined;
  try {
    // Its ring full, not only published: a sender starved while it filled the ring said "waiting for a
    // receiver" before, and stopped then, its receiver never had the 8 MiB waited for below.
    const ringFull = async () => {
      const [head, depth] = [await slotWord(channel, "head"), await slotWord(channel, "depth")];
      return depth > 0 && head === depth; // no receiver yet: every chunk published, none taken
    };
    await eventually(ringFull, WITHIN_MS, "the sender's ring filled");
    sender.kill("SIGSTOP");
    try {
      // It joins unseen by the stopped sender, takes the ring's 8 MiB, and fails once the sender's lease ends.
      const receiver = guest(suite.paths, ["recv", "-q", "--channel", channel, "--out", first]);
      await waitForSize(`${first}.partial`, 8 << 20, LEASE_MS);
      expect(await receiver.exit(WITHIN_MS)).toBe(1);
    } finally {
      sender.kill("SIGCONT");
    }
    second = guest(suite.paths, ["recv", "-q", "--channel", channel, "--out", output]);
    expect([await exitOrKill(sender, WITHIN_MS), await second.exit()]).toEqual([0, 0]);
    expect(sameBytes(readFileSync(output), data)).toBe(true);
    // Before: "... nothing had been transferred, so it waits again on a new session".
    expect(said.text).toContain("no receiver had been seen to join, so it waits again on a new session");
    expect(said.text).not.toContain("nothing had been transferred");
  } finally {
    sender.kill("SIGKILL");
    second?.proc.kill("SIGKILL");
  }
}, 90_000);
