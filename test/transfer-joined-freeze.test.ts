/**
 * A receiver frozen past its lease just after it joined a transfer, before it had the transfer's ring (a
 * paused VM, a receiver stopped with Ctrl-Z): its sender saw it join, streamed to it, and failed "the
 * receiver died". The receiver must fail too, saying its lease expired, not take a new session and wait
 * for a sender again as if no transfer had reached it: `guest recv` in a VM paused so then waited without
 * end (test/vm/qemu-faults.test.ts's "paused" case, once in a whole run: "no 'recv' within 150000 ms").
 * The receiver stops itself at that point (test/fixtures/frozen-joiner.ts): an order, not a race.
 * Stalled there instead, within its lease, past its --timeout: the sender was there, and it receives.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fetchStatus } from "../src/guest/inspect.ts";
import { eventually, exitOrKill, livenessBoundMs, spawnFixture } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest, guestSaying, randomFile, sameBytes } from "./helpers/transfer.ts";

const LEASE_MS = 1000;
const suite = sharedArbiter("joined-freeze", { lease: `${LEASE_MS}ms` });
/** Liveness bound only: the expiry, the sender's end, the receiver's. */
const WITHIN_MS = livenessBoundMs(LEASE_MS);

test("a receiver frozen past its lease after joining a transfer fails saying so, as its sender does", async () => {
  const channel = "joined-freeze";
  const receiver = spawnFixture("frozen-joiner", {
    socket: suite.socket,
    region: suite.region,
    channel,
    output: `${suite.dir}/${channel}.out`,
  });
  const sender = guest(suite.paths, ["send", "-q", "-", "--channel", channel]);
  try {
    // The sender's stdin stays open: its transfer is streaming, never ended, when the receiver freezes.
    sender.proc.stdin.write(new Uint8Array(100_000).fill(3));
    Promise.resolve(sender.proc.stdin.flush()).catch(() => {});
    await receiver.events.next("joined", WITHIN_MS);
    const pid = receiver.proc.pid;
    const hasSession = async () =>
      (await fetchStatus({ unix: suite.socket })).report.clients.some((client) => client.pid === pid);
    await eventually(async () => !(await hasSession()), WITHIN_MS, "the frozen receiver's session expiring");
    expect(await sender.exit(WITHIN_MS)).toBe(1);
    expect(await sender.stderr).toMatch(/the receiver \(client \d+\) died/);
    receiver.proc.kill("SIGCONT");
    // Before: { renewed: true }, and then it waited for a sender for ever.
    const outcome = await receiver.events.next("outcome", WITHIN_MS);
    expect(outcome).toMatchObject({ ok: false, code: "LeaseExpired" });
    expect(String(outcome.message)).toContain("(lease expired)");
    expect(await receiver.exit(WITHIN_MS)).toBe(0);
  } finally {
    receiver.proc.kill("SIGKILL");
    sender.proc.kill("SIGKILL");
  }
}, 60_000);

/** The receiver's wait limit, and how long it stalls after joining: well past that limit, on any machine. */
const STALL = { waitMs: 1000, stallMs: 6000 };

test("a receiver whose wait limit passes after it joined a transfer, while it opens the ring, receives it", async () => {
  const channel = "joined-stall";
  const input = join(suite.dir, `${channel}.in`);
  const output = `${suite.dir}/${channel}.out`;
  const data = await randomFile(input, 300_000);
  // The sender first, so the receiver joins at once, well within its limit.
  const sender = guestSaying(suite.paths, ["send", input, "--channel", channel, "--progress"]);
  let receiver: ReturnType<typeof spawnFixture> | undefined;
  try {
    // Said once its transfer is published. Its ring in `ivsh status` came earlier (the arbiter records it
    // before the sender announces it), and an announcement late past the receiver's 1 s limit failed it.
    const { said } = sender;
    const waiting = async () => said.text.includes("waiting for a receiver");
    await eventually(waiting, WITHIN_MS, "the sender's transfer published");
    receiver = spawnFixture("frozen-joiner", {
      socket: suite.socket,
      region: suite.region,
      channel,
      output,
      ...STALL,
    });
    await receiver.events.next("joined", WITHIN_MS);
    // Before: { ok: false, code: "Timeout" }, "no sender showed up within 1 s (--timeout)", though one had.
    expect(await receiver.events.next("outcome", WITHIN_MS + STALL.stallMs)).toEqual({
      event: "outcome",
      ok: true,
    });
    expect(await exitOrKill(sender.proc, WITHIN_MS)).toBe(0);
    expect(sameBytes(readFileSync(output), data)).toBe(true);
    expect(await receiver.exit(WITHIN_MS)).toBe(0);
  } finally {
    receiver?.proc.kill("SIGKILL");
    sender.proc.kill("SIGKILL");
  }
}, 60_000);
