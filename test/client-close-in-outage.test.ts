/**
 * close() while the arbiter restarts (new-user trial 36): the client's goodbye was skipped whenever its
 * link was down, so close() resolved at once and the restarted arbiter kept what the process held (a
 * write-exclusive segment, a locked mutex) for a whole lease after its return, logging a clean exit as
 * "lost its lease"; a producer/consumer pair whose consumer closed right after the restart showed it.
 * close() is documented to wait until the arbiter has answered: it now waits up to a lease for the
 * arbiter's return and says goodbye then. Separate processes: the arbiter is killed -9 and started again.
 */
import { afterAll, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, spawnFixture } from "./helpers/processes.ts";

const paths = testPaths("client-close-in-outage");
afterAll(() => paths.cleanup());
/** A liveness bound, generous for a busy 2-core machine. */
const BOUND_MS = 20_000;

test("a client closed while its arbiter restarts says goodbye once it is back: nothing stays held", async () => {
  // A lease long enough that the restarted arbiter cannot have expired the session by the checks below.
  const arbiter = await ArbiterProcess.start(paths, { lease: "10s" });
  const closer = spawnFixture("outage-closer", {
    ...clientConfig(paths),
    segment: "outage-frame",
    mutex: "outage-lock",
  });
  try {
    await closer.events.next("holding", BOUND_MS);
    await arbiter.kill9();
    closer.proc.stdin.write("close\n");
    closer.proc.stdin.flush();
    await Bun.sleep(200); // close() under way while nothing listens
    await arbiter.restart();
    const closed = await closer.events.next("closed", BOUND_MS);
    expect(await closer.exit(BOUND_MS)).toBe(0);
    const other = await connect(clientConfig(paths, { name: "after-close" }));
    try {
      const status = await other.status();
      expect(status.clients.map((client) => client.name)).toEqual(["after-close"]);
      // Before: AlreadyExists ("a segment by that name exists") until the closer's restored lease ran out.
      const segment = await other.alloc(4096, { name: "outage-frame", mode: "write-exclusive" });
      await segment.free();
      const lock = await other.mutex("outage-lock", false).catch((error: unknown) => error);
      expect(lock).toMatchObject({ code: "NotFound" }); // its one handle was closed by the goodbye
      expect(closed).toEqual({ event: "closed", reconnects: 1 }); // its session resumed, then ended
    } finally {
      await other.close();
    }
  } finally {
    closer.proc.kill("SIGKILL");
    await arbiter.stop();
  }
}, 60_000);

// Mutation round 32 (src/guest/goodbye.ts): how long close() waits for an arbiter that stays away.
const awayPaths = testPaths("client-close-outage-away");
const leftPaths = testPaths("client-close-outage-left");
afterAll(() => {
  awayPaths.cleanup();
  leftPaths.cleanup();
});

/** Whether `closing` resolves within `boundMs`: "closed", or "pending". */
function closedWithin(closing: Promise<void>, boundMs: number): Promise<string> {
  return Promise.race([closing.then(() => "closed"), Bun.sleep(boundMs).then(() => "pending")]);
}

test("close() while the arbiter stays away waits a lease for it, not the whole reconnect timeout", async () => {
  const arbiter = await ArbiterProcess.start(awayPaths, { lease: "1s" });
  const client = await connect(clientConfig(awayPaths, { name: "away-closer", reconnectTimeoutMs: 60_000 }));
  try {
    await arbiter.kill9();
    await Bun.sleep(200); // the link dropped: the client resumes, for up to a minute
    // A lease (1 s) and the goodbye's bound: well within BOUND_MS; the resume alone runs a minute.
    expect(await closedWithin(client.close(), BOUND_MS)).toBe("closed");
  } finally {
    await arbiter.stop();
  }
}, 60_000);

test("close({ waitForArbiter: false }) while the arbiter is away does not wait for it at all", async () => {
  const arbiter = await ArbiterProcess.start(leftPaths, { lease: "60s" });
  const client = await connect(clientConfig(leftPaths, { name: "away-leaver", reconnectTimeoutMs: 60_000 }));
  try {
    await arbiter.kill9();
    await Bun.sleep(200);
    // Waiting for the arbiter would take its lease (60 s) here.
    expect(await closedWithin(client.close({ waitForArbiter: false }), BOUND_MS)).toBe("closed");
  } finally {
    await arbiter.stop();
  }
}, 60_000);
