/**
 * A full accept queue's episode that ended without any guest getting through (its guests gave up; the
 * arbiter drained later). Its marker (src/host/bridge-episodes.ts) stayed, and the next bridge to reach
 * the arbiter, hours later, logged that connections "were refused over" the hours since the episode
 * began, as if the arbiter had refused them until a moment ago. It now says how long the refusals lasted
 * (first to last) and, for an episode over for longer than EPISODE_GAP_MS, how long ago the last was.
 */
import { expect } from "bun:test";
import { readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fetchStatus } from "../src/guest/inspect.ts";
import { fullQueueOf } from "./helpers/full-queue.ts";
import { CLI } from "./helpers/paths.ts";
import { eventually } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testWithTool } from "./helpers/tools.ts";

const suite = sharedArbiter("bridge-queue-stale", { lease: "1000ms" });
const queue = fullQueueOf(suite);

/** An `ivsh bridge` relaying through pipes, its temporary directory (the markers') the suite's. */
function bridge() {
  return tracked(
    Bun.spawn([process.execPath, CLI, "bridge", "--vm", "stale-vm", "--socket", suite.socket], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, TMPDIR: suite.dir, NO_COLOR: "1" },
    }),
  );
}

const markers = () => readdirSync(join(suite.dir, `ivsh-bridge-${process.getuid?.()}`));

testWithTool(
  "python3",
  "a bridge reaching the arbiter hours after an episode nobody got through says when its refusals were",
  async () => {
    await queue.stop();
    const refused = bridge();
    expect(await new Response(refused.stderr).text()).toContain("WARN Failed to reach the arbiter");
    expect(await refused.exited).toBe(1);
    queue.drain();
    const answers = () =>
      fetchStatus({ unix: suite.socket }).then(
        () => true,
        () => false,
      );
    await eventually(answers, 20_000, "the arbiter answering again");
    // The episode as it would be 3 hours on: 5 refusals over 20 s, the last 2 h 59 min 40 s ago.
    const [marker] = markers();
    const began = Date.now() - 3 * 3600_000;
    writeFileSync(join(suite.dir, `ivsh-bridge-${process.getuid?.()}`, marker!), `${began}\nxxxx`);
    const last = (began + 20_000) / 1000;
    utimesSync(join(suite.dir, `ivsh-bridge-${process.getuid?.()}`, marker!), last, last);

    const reaching = bridge();
    const stderr = new Response(reaching.stderr).text();
    await eventually(async () => markers().length === 0, 20_000, "the reaching bridge ending the episode");
    reaching.stdin.end();
    expect(await reaching.exited).toBe(0);
    const line = (await stderr).split("\n").find((text) => text.includes("accepts connections again"));
    expect(line).toMatch(/5 guest connection\(s\) were refused over 20 s, the last 2 h 59 min ago,/);
  },
  60_000,
);
