/**
 * A sender frozen past its lease after its end record is out (a paused VM), while its receiver verifies,
 * keeps and confirms the stream. docs/layout.md promises one outcome for both ends: a receiver that exits 0
 * with FILE must have a sender that reports success too, or the receiver must not keep FILE.
 */
import { afterAll, beforeAll, beforeEach, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { fetchStatus } from "../src/guest/inspect.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import {
  ArbiterProcess,
  clientConfig,
  eventually,
  livenessBoundMs,
  spawnFixture,
} from "./helpers/processes.ts";
import { guest, outPath } from "./helpers/transfer.ts";

const LEASE_MS = 2000;
let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("xverdictfreeze");
  arbiter = await ArbiterProcess.start(paths, { lease: `${LEASE_MS}ms` });
});
beforeEach(() => arbiter.revive());
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("a sender frozen past its lease while it waits for the verdict: both ends report the same outcome", async () => {
  const bytes = 100_000;
  const output = outPath(paths, "verdict-freeze.out");
  const receiver = guest(paths, ["recv", "--channel", "verdict-freeze", "--out", output]);
  const sender = spawnFixture("frozen-finisher", clientConfig(paths, { channel: "verdict-freeze", bytes }));
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
        !(await fetchStatus({ unix: paths.socket })).report.clients.some(
          (each) => each.clientId === clientId,
        ),
      livenessBoundMs(LEASE_MS),
      "the frozen sender's session expiring",
    );
    sender.proc.kill("SIGCONT");
    const result = (await sender.events.next("result")) as { ok: boolean; message?: string };
    const kept = received === 0 && readFileSync(output).every((byte) => byte === 9);
    // Before: the receiver exited 0 with the verified FILE, the sender reported a failure (lease expired).
    expect({ senderOk: result.ok, receiverKept: kept, message: result.message }).toMatchObject({
      senderOk: kept,
      receiverKept: kept,
    });
  } finally {
    receiver.proc.kill("SIGCONT");
    sender.proc.kill("SIGKILL");
  }
}, 60_000);
