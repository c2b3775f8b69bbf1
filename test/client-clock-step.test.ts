/**
 * A client's own deadlines against a clock that steps: giving up on an arbiter that does not come back
 * after `reconnectTimeoutMs`, and the lease after which a client locked out of the socket counts its
 * grants as lost, are measured on the monotonic clock. They were wall-clock differences (Date.now), so a
 * step back of an hour while the arbiter was away kept the client retrying, and its requests waiting, for
 * that hour. The client is ./fixtures/stepped-client.ts, whose wall clock the test steps.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, spawnFixture } from "./helpers/processes.ts";

const RECONNECT_TIMEOUT_MS = 2000;
const HOUR_MS = 3_600_000;
// Generous: the client gives up after the reconnect timeout, whatever the machine's load.
const BOUND_MS = 10 * RECONNECT_TIMEOUT_MS;

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("client-clock-step");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test(
  "a wall clock stepped back an hour while the arbiter is away: the client still gives up after its reconnect timeout",
  async () => {
    const client = spawnFixture(
      "stepped-client",
      clientConfig(paths, { reconnectTimeoutMs: RECONNECT_TIMEOUT_MS }),
    );
    try {
      await client.events.next("connected");
      await arbiter.kill9(); // never restarted: the client's reconnects start, and cannot succeed
      await Bun.sleep(300);
      client.proc.stdin.write(`step ${-HOUR_MS}\nalloc\n`);
      client.proc.stdin.flush();
      const allocated = await client.events.next("allocated", BOUND_MS);
      expect(allocated).toMatchObject({ ok: false });
      expect(["ArbiterUnreachable", "ConnectionLost"]).toContain(String(allocated.code));
    } finally {
      client.proc.kill("SIGKILL");
    }
  },
  BOUND_MS + 30_000,
);
