/**
 * `ivsh host` stopped by SIGTERM ends promptly with clients connected, waiting in it and mid-transfer.
 * Before, every WAIT parked in the arbiter kept its timer after the stop, and the stopped process lived
 * on until the last one fired: a channel end's park slice (500 ms), a library wait's own limit (here 120 s).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
import { socketAnswers } from "../src/host/listener.ts";
import { SyncWord } from "../src/region/layout.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { eventually, livenessBoundMs, spawnBun } from "./helpers/processes.ts";
import { tricklingTransfer } from "./helpers/transfer.ts";

const LEASE_MS = 2000;
let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("lo6-host-stop-prompt");
});
afterAll(() => paths?.cleanup());

test("SIGTERM with a client parked on a long wait and a transfer under way: exit 0 within a lease-derived bound, socket removed", async () => {
  const { socket, region, state } = paths;
  const host = spawnBun([
    ...[CLI, "host", "--region", region, "--socket", socket, "--state", state],
    ...["--size", "16MiB", "--block-size", "64KiB", "--lease", `${LEASE_MS}ms`],
  ]);
  await eventually(() => socketAnswers(socket), livenessBoundMs(LEASE_MS), "the arbiter to listen");
  const client = await connect({ socket, region, name: "long-waiter" });
  const transfer = tricklingTransfer(paths, "under-way");
  try {
    const mutex = await client.mutex("long-wait");
    // Parked in the arbiter (a WAIT, not a futex) on a word nobody changes, for up to 120 s.
    const waiting = client.waitWord(mutex.slot, SyncWord.firstUnused, 0, 120_000);
    waiting.catch(() => undefined); // the arbiter goes away under it: not what this test judges
    await eventually(
      async () => (await client.status()).sync.some((sync) => sync.slot === mutex.slot && sync.waiters > 0),
      livenessBoundMs(LEASE_MS),
      "the WAIT parked in the arbiter",
    );
    await eventually(
      async () => (await client.status()).transfers.some((t) => t.channel === "under-way" && t.bytes > 0),
      livenessBoundMs(LEASE_MS),
      "the transfer under way",
    );
    host.proc.kill("SIGTERM");
    // Generous: a stop has nothing of its own to wait for, and took 5-10 ms here after the fix.
    expect(await host.exit(livenessBoundMs(LEASE_MS))).toBe(0);
    expect(existsSync(socket)).toBe(false);
  } finally {
    await transfer.end().catch(() => undefined); // their arbiter went away: their outcome is not judged here
    await client.close({ waitForArbiter: false }).catch(() => undefined);
  }
}, 60_000);
