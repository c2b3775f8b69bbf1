/**
 * A close() the state journal let through (the first change of an outage, or the once-a-second probe)
 * whose write then failed (its file system full). The arbiter undid the close in memory, by replaying the
 * journal, and told the client NoSpace, but the region kept what the close had done to it before the
 * write: the closing client's lock released as owner-died (another holder took it while the client that
 * was told its close failed still held it), and, the closer being the slot's last holder, the slot's
 * words zeroed (its lock free, to be taken by the next to open the name).
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { join } from "node:path";
import { type Client, connect, type Mutex } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { cannotMount, fillFile, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("journal-failed-close");
});
afterAll(() => paths?.cleanup());

/** While the journal refuses, one change a second is let through to find out whether it still does. */
const PAST_PROBE_MS = 1200;

const outcome = (done: Promise<unknown>) =>
  done.then(
    () => "ok",
    (error: { code?: string }) => String(error.code),
  );

/**
 * Closes `fillers` one by one (each a change of the same records as a close of a slot another client still
 * holds) until one let through by the probe is refused: the journal's file then has less room than such a
 * close needs, and the next change let through fails in its write.
 */
async function untilNoRoomForAClose(fillers: Mutex[]): Promise<void> {
  let probed = false;
  for (const filler of fillers) {
    for (;;) {
      const closed = await outcome(filler.close());
      if (closed === "ok") break;
      expect(closed).toBe("NoSpace");
      if (probed) return;
      await Bun.sleep(PAST_PROBE_MS);
      probed = true;
    }
    probed = false;
  }
  throw new Error("the journal took every close: its file system was not full");
}

testUnless(
  cannotMount,
  "a close() whose journal write fails leaves the region as the refusal says: the lock and the slot's words are still the closer's",
  () =>
    withSmallTmpfs(join(paths.dir, "small"), "1m", async (small) => {
      const own = { ...paths, state: join(small, "arbiter.state") };
      const arbiter = await ArbiterProcess.start(own);
      const connected: Client[] = [];
      try {
        const holder = await connect({ socket: own.socket, region: own.region, name: "holder" });
        const other = await connect({ socket: own.socket, region: own.region, name: "other" });
        connected.push(holder, other);
        // Slots 0..39, held by both: closing one of them is a sync-release and a reply, as closing "shared".
        const fillers: Mutex[] = [];
        for (let index = 0; index < 40; index++) {
          fillers.push(await holder.mutex(`filler-${index}`));
          await other.mutex(`filler-${index}`);
        }
        const shared = await holder.mutex("shared");
        const theirs = await other.mutex("shared");
        const solo = await holder.mutex("solo");
        expect(await shared.lock()).toBe("acquired");
        expect(await solo.lock()).toBe("acquired");
        fillFile(join(small, "filler"));
        await untilNoRoomForAClose(fillers);

        await Bun.sleep(PAST_PROBE_MS);
        expect(await outcome(shared.close())).toBe("NoSpace");
        // Refused: the lock is still the holder's, and the other holder cannot take it.
        expect(shared.owner).toBe(holder.clientId);
        expect(theirs.tryLock()).toBeUndefined();

        // The last holder's close, refused so (its records are more: the slot's free too).
        await Bun.sleep(PAST_PROBE_MS);
        expect(await outcome(solo.close())).toBe("NoSpace");
        expect(solo.owner).toBe(holder.clientId);
      } finally {
        await Promise.all(connected.map((client) => client.close().catch(() => {})));
        await arbiter.stop().catch(() => {});
      }
    }),
  60_000,
);
