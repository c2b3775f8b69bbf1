/** The client library's behaviour, run once per way of mapping the region. */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { backends } from "./helpers/backends.ts";
import { expectFailure, expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, spawnFixture } from "./helpers/processes.ts";

for (const backend of backends)
  describe(`client library on the ${backend.name}`, () => {
    let paths: TestPaths;
    let arbiter: ArbiterProcess;
    let client: Client;
    let peer: Client;

    beforeAll(async () => {
      paths = testPaths("backend");
      arbiter = await ArbiterProcess.start(paths);
      client = await connect({ ...backend.options(paths), name: "client" });
      peer = await connect({ socket: paths.socket, region: paths.region, name: "peer" });
    });
    beforeEach(() => arbiter.revive());
    afterAll(async () => {
      await client?.close();
      await peer?.close();
      await arbiter?.stop();
      paths?.cleanup();
    });

    test("maps the region the arbiter serves", () => {
      expect(client.region.size).toBe(16 << 20);
      expect(client.geometry.blockSize).toBe(65536);
      expect(client.epoch).toBe(1);
    });

    test("a segment written through one mapping is read through the other, zero copy", async () => {
      const segment = await client.alloc(3 * 65536 + 5, { name: "shared" });
      expect(segment.blockCount).toBe(4);
      expect(segment.bytes.every((byte) => byte === 0)).toBe(true);
      segment.bytes.set([1, 2, 3], segment.byteLength - 3);
      const seen = await peer.open("shared", "read");
      expect([...seen.bytes.subarray(seen.byteLength - 3)]).toEqual([1, 2, 3]);
      segment.bytes[0] = 99; // no copy: the peer sees later writes too
      expect(seen.bytes[0]).toBe(99);
      await seen.free();
      await segment.free();
      expectFailure(() => segment.bytes, "NotHeld", /was freed/);
    });

    test("a freed segment is fresh (zeroed) for its next owner", async () => {
      const first = await client.alloc(65536);
      first.bytes.fill(0xee);
      const block = first.firstBlock;
      await first.free();
      const second = await peer.alloc(65536);
      expect(second.firstBlock).toBe(block);
      expect(second.bytes.every((byte) => byte === 0)).toBe(true);
      await second.free();
    });

    test("mutex: exclusion, timeout, and not-held errors", async () => {
      const mine = await client.mutex("m");
      const theirs = await peer.mutex("m");
      expect(mine.slot).toBe(theirs.slot);
      expect(await mine.lock()).toBe("acquired");
      expect(theirs.tryLock()).toBeUndefined();
      await expectRejection(theirs.lock(150), "Timeout", /stayed held by client/);
      expectFailure(() => theirs.unlock(), "NotHeld", /holds it, not this one/);
      const waiting = theirs.lock();
      await Bun.sleep(50);
      mine.unlock();
      expect(await waiting).toBe("acquired");
      theirs.unlock();
      expectFailure(() => theirs.unlock(), "NotHeld", /not locked/);
      await theirs.close();
      expectFailure(() => theirs.tryLock(), "NotHeld", /its handle was closed/);
      await expectRejection(theirs.lock(), "NotHeld", /its handle was closed/);
    });

    test("condition variable: wait times out, notify wakes", async () => {
      const cv = await client.condvar("cv");
      await cv.acquire();
      expect(await cv.wait(100)).toBe("timed-out");
      expect(cv.owner).toBe(client.clientId);
      const other = await peer.condvar("cv");
      const waited = cv.wait(5000);
      await other.acquire();
      other.notify();
      other.release();
      expect(await waited).toBe("notified");
      cv.release();
    });

    test("broadcast wakes waiters in three other processes", async () => {
      const flag = await client.alloc(4096, { name: "go" });
      const config = { ...backend.options(paths), cv: "gate" };
      const waiters = [0, 1, 2].map(() => spawnFixture("cv-waiter", config));
      await Promise.all(waiters.map((waiter) => waiter.events.next("waiting")));
      await Bun.sleep(100);
      const gate = await client.condvar("gate");
      await gate.acquire();
      flag.bytes[0] = 1;
      gate.broadcast();
      gate.release();
      await Promise.all(waiters.map((waiter) => waiter.events.next("woken", 5000)));
      expect(await Promise.all(waiters.map((waiter) => waiter.exit()))).toEqual([0, 0, 0]);
      await flag.free();
    });
  });
