/**
 * What the host's log shows while a guest waits for an arbiter whose accept queue is full (stopped, or too
 * busy to accept). The guest tries again about once a second, each try through a bridge process of its
 * own (bridge-queue-full.test.ts), and each of those bridges logged an ERROR: an expected, retried
 * condition flooded the host's log, one line a second per waiting guest. Now the first refusal of the
 * episode is one WARN, and the bridge that gets through again says how many were refused.
 */
import { expect } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { fullQueueOf } from "./helpers/full-queue.ts";
import { type FakeGuestfwd, fakeGuestfwd, socketGuestfwd } from "./helpers/guestfwd.ts";
import { eventually } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testWithTool } from "./helpers/tools.ts";

const suite = sharedArbiter("bridge-queue-full-log", { lease: "1000ms" });
const queue = fullQueueOf(suite);

/** The bridges' log lines while a guest's connect() waits for a full queue (two tries), then gets through. */
async function linesOfEpisode(make: (logged: Promise<string>[]) => FakeGuestfwd): Promise<string[]> {
  const logged: Promise<string>[] = [];
  const forward = make(logged);
  await queue.stop();
  try {
    const connecting = connect({
      tcp: `127.0.0.1:${forward.port}`,
      region: suite.region,
      connectTimeoutMs: 30_000,
    });
    const outcome = connecting.then(
      () => "connected",
      (error: Error) => error.message,
    );
    // Two of the guest's tries refused (their bridges gone) before the queue drains: an episode of several
    // refusals, whatever the machine's load (a fixed 4 s held a number of tries it did not count).
    const refused = () => forward.bridges.filter((bridge) => bridge.exitCode !== null).length;
    await eventually(async () => refused() >= 2, 20_000, "two of the guest's tries refused");
    queue.drain();
    expect(await outcome).toBe("connected");
    await (await connecting).close();
    expect(forward.bridges.length).toBeGreaterThan(2); // several tries, each a bridge refused
    await Promise.all(forward.bridges.map((bridge) => bridge.exited));
  } finally {
    forward.stop();
  }
  const text = (await Promise.all(logged)).join("");
  return text.split("\n").filter((line) => line !== "");
}

function expectOneEpisode(lines: string[]): void {
  expect(lines.filter((line) => line.includes("ERROR"))).toEqual([]);
  const full = lines.filter((line) => line.includes("waiting to be accepted"));
  expect(full.length).toBe(2);
  expect(full[0]).toMatch(
    /^\[ivsh\] WARN Failed to reach the arbiter for VM 'queued-vm' since .*; the guest is told, and tries again until its connect timeout; further refusals are counted/,
  );
  expect(full[1]).toMatch(
    /^\[ivsh\] ℹ the arbiter at .* accepts connections again: [1-9]\d* guest connection\(s\) were refused over /,
  );
}

testWithTool(
  "python3",
  "relaying bridges log a full accept queue once per episode, not once per guest's try",
  async () => {
    expectOneEpisode(await linesOfEpisode((logged) => fakeGuestfwd("queued-vm", suite.socket, { logged })));
  },
  60_000,
);

testWithTool(
  "python3",
  "handing-over bridges log a full accept queue once per episode too",
  async () => {
    expectOneEpisode(await linesOfEpisode((logged) => socketGuestfwd("queued-vm", suite.socket, { logged })));
  },
  60_000,
);
