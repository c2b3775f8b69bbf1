/**
 * A client whose open-file limit is too small for it. Bun reports a socket it could not make (socket(2)
 * failing with EMFILE) as ECONNREFUSED, which read "nothing listens on it: start `ivsh host`" while the
 * arbiter served; the region's open failing alike was a raw "open PATH: EMFILE". Each such failure now
 * names the open-file limit and says to raise it.
 */
import { expect } from "bun:test";
import { spawnFixture } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testWithTool } from "./helpers/tools.ts";

const suite = sharedArbiter("client-descriptors");

testWithTool(
  "prlimit",
  "every limit too small for a client: its error names the open-file limit, none says nothing listens",
  async () => {
    const fixture = spawnFixture("few-descriptors", { socket: suite.socket, region: suite.region });
    expect(await fixture.exit()).toBe(0);
    await fixture.events.finished;
    const events = fixture.events.lines.map((line) => JSON.parse(line));
    const failed = events.filter((event) => event.event === "failed");
    expect(failed.length).toBeGreaterThan(0);
    for (const { limit, message } of failed)
      expect(message).toContain(
        `this process has as many files open as its limit allows (EMFILE, ulimit -n ${limit})`,
      );
    expect(events.at(-1)?.event).toBe("connected");
  },
  60_000,
);
