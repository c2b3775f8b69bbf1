/**
 * A mutex handle's close() refused because the state journal cannot be written (its file system full):
 * the arbiter refuses the change, so nothing of it may happen. It released the lock as owner-died all the
 * same, before it found the journal could not take the close: the client was told its close failed while
 * another client took the lock it still held. And the handle whose close was refused was left closed on
 * the client's side: it could neither unlock nor close again, so the hold stayed until the session ended.
 * A segment's free() refused so was the same: marked freed and withdrawn, its grant kept by the arbiter.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { type Client, connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { cannotMount, fillFile, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("journal-refused-close");
});
afterAll(() => paths?.cleanup());

/** Changes that zero no block, until the journal refuses one; the refusals that follow are up front. */
async function untilRefused(client: Client): Promise<string> {
  let outcome = "ok";
  for (let index = 0; index < 500 && outcome === "ok"; index++)
    outcome = await client
      .mutex(`filler-${index}-${"x".repeat(200)}`)
      .then((mutex) => mutex.close())
      .then(
        () => "ok",
        (error: { code?: string }) => String(error.code),
      );
  return outcome;
}

testUnless(
  cannotMount,
  "a close() the full journal refused keeps the lock its client holds: nobody else takes it meanwhile",
  () =>
    withSmallTmpfs(join(paths.dir, "small"), "1m", async (small) => {
      const own = { ...paths, state: join(small, "arbiter.state") };
      const arbiter = await ArbiterProcess.start(own);
      const connected: Client[] = [];
      try {
        const holder = await connect({ socket: own.socket, region: own.region, name: "holder" });
        const other = await connect({ socket: own.socket, region: own.region, name: "other" });
        connected.push(holder, other);
        const mine = await holder.mutex("kept");
        const theirs = await other.mutex("kept");
        expect(await mine.lock()).toBe("acquired");
        const filler = join(small, "filler");
        fillFile(filler);
        expect(await untilRefused(other)).toBe("NoSpace");
        const closing = await mine.close().then(
          () => "closed",
          (error: { code?: string }) => String(error.code),
        );
        expect(closing).toBe("NoSpace");
        // The close was refused: the lock is still the holder's.
        expect(theirs.tryLock()).toBeUndefined();
        expect(theirs.owner).toBe(holder.clientId);
        rmSync(filler);
      } finally {
        await Promise.all(connected.map((client) => client.close().catch(() => {})));
        await arbiter.stop().catch(() => {});
      }
    }),
  60_000,
);

testUnless(
  cannotMount,
  "a handle whose close() the full journal refused stays usable: it unlocks, and a close retried with room gives the hold up",
  () =>
    withSmallTmpfs(join(paths.dir, "small-retry"), "1m", async (small) => {
      const own = { ...paths, state: join(small, "arbiter.state") };
      const arbiter = await ArbiterProcess.start(own);
      const connected: Client[] = [];
      try {
        const holder = await connect({ socket: own.socket, region: own.region, name: "holder" });
        const other = await connect({ socket: own.socket, region: own.region, name: "other" });
        connected.push(holder, other);
        const mine = await holder.mutex("retried");
        const theirs = await other.mutex("retried");
        expect(await mine.lock()).toBe("acquired");
        const filler = join(small, "filler");
        fillFile(filler);
        expect(await untilRefused(other)).toBe("NoSpace");
        expect(
          await mine.close().then(
            () => "closed",
            (error: { code?: string }) => String(error.code),
          ),
        ).toBe("NoSpace");
        rmSync(filler);
        mine.unlock();
        expect(theirs.tryLock()).toBe("acquired");
        theirs.unlock();
        await mine.close();
        const { sync } = await other.status();
        expect(sync.find((object) => object.name === "retried")?.holders).toEqual([other.clientId]);
      } finally {
        await Promise.all(connected.map((client) => client.close().catch(() => {})));
        await arbiter.stop().catch(() => {});
      }
    }),
  60_000,
);

testUnless(
  cannotMount,
  "a segment whose free() the full journal refused stays the client's: its bytes are there, and a free retried with room gives it back",
  () =>
    withSmallTmpfs(join(paths.dir, "small-free"), "1m", async (small) => {
      const own = { ...paths, state: join(small, "arbiter.state") };
      const arbiter = await ArbiterProcess.start(own);
      const connected: Client[] = [];
      try {
        const holder = await connect({ socket: own.socket, region: own.region, name: "holder" });
        connected.push(holder);
        const segment = await holder.alloc(4096, { name: "kept-segment" });
        segment.bytes[0] = 7;
        const filler = join(small, "filler");
        fillFile(filler);
        expect(await untilRefused(holder)).toBe("NoSpace");
        const freeing = await segment.free().then(
          () => "freed",
          (error: { code?: string }) => String(error.code),
        );
        expect(freeing).toBe("NoSpace");
        expect(segment.isFreed).toBe(false);
        expect(segment.bytes[0]).toBe(7);
        rmSync(filler);
        await segment.free();
        const { segments } = await holder.status();
        expect(segments.map((held) => held.name)).not.toContain("kept-segment");
      } finally {
        await Promise.all(connected.map((client) => client.close().catch(() => {})));
        await arbiter.stop().catch(() => {});
      }
    }),
  60_000,
);
