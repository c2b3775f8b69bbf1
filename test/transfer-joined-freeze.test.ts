/**
 * A receiver frozen past its lease just after it joined a transfer, before it had the transfer's ring (a
 * paused VM, a receiver stopped with Ctrl-Z): its sender saw it join, streamed to it, and failed "the
 * receiver died". The receiver must fail too, saying its lease expired, not take a new session and wait
 * for a sender again as if no transfer had reached it: `guest recv` in a VM paused so then waited without
 * end (test/vm/qemu-faults.test.ts's "paused" case, once in a whole run: "no 'recv' within 150000 ms").
 * The receiver stops itself at that point (test/fixtures/frozen-joiner.ts): an order, not a race.
 */
import { expect, test } from "bun:test";
import { fetchStatus } from "../src/guest/inspect.ts";
import { eventually, livenessBoundMs, spawnFixture } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest } from "./helpers/transfer.ts";

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
