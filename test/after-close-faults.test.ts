/**
 * What close() (or a session lost for good) unmaps is read no more: a channel end waiting on its peer, a
 * receiver between two pieces of a copy or in its consumer, a sender writing, a receiver napping for a
 * sender in another VM, and a wait parked in an arbiter that is away each fail with the closed-client
 * error (or the loss) instead of a fault in shared memory (SIGSEGV).
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, spawnFixture } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("after-close-faults");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

// Each channel wait read its slot words after close() had unmapped them: SIGSEGV, the fault blamed on
// the program. Now the wait ends with the closed-client error.
test.each(["recv-open", "send-finish", "send-write"])(
  "a channel end waiting on its peer (%s) when close() runs fails with the closed-client error, not a fault",
  async (which) => {
    const closer = spawnFixture(
      "channel-closer",
      clientConfig(paths, { case: which, channel: `closed-${which}` }),
    );
    try {
      await closer.events.next("parked");
      const exitCode = await closer.exit();
      const stderr = await closer.stderr;
      expect({ exitCode, signal: closer.proc.signalCode, stderr }).toEqual({
        exitCode: 0,
        signal: null,
        stderr: "",
      });
      expect(await closer.events.next("ended")).toMatchObject({ ok: false, code: "ConnectionLost" });
    } finally {
      closer.proc.kill("SIGKILL");
    }
  },
  60_000,
);

/**
 * Runs the fixture against an arbiter of its own (which `killArbiter` kills with SIGKILL once the fixture
 * says `ready`) and returns its "result" event, after checking it ended by itself: exit 0, no signal
 * (a fault in shared memory shows as SIGSEGV or SIGBUS).
 */
async function fixtureAgainstOwnArbiter(
  name: string,
  fixture: string,
  {
    ready,
    config = {},
    killArbiter = false,
  }: { ready: string; config?: Record<string, unknown>; killArbiter?: boolean },
): Promise<Record<string, unknown>> {
  const own = testPaths(name);
  const arbiter = await ArbiterProcess.start(own);
  const child = spawnFixture(fixture, clientConfig(own, config));
  try {
    await child.events.next(ready);
    if (killArbiter) await arbiter.kill9();
    expect({ exitCode: await child.exit(), signal: child.proc.signalCode }).toEqual({
      exitCode: 0,
      signal: null,
    });
    return await child.events.next("result");
  } finally {
    child.proc.kill("SIGKILL");
    await arbiter.stop().catch(() => {});
    own.cleanup();
  }
}

// A second review: once a session was lost for good (here: the arbiter not back within the reconnect
// timeout), its ring was withdrawn while the channel end went on using views made before: SIGSEGV.
test.each(["sender", "receiver"])(
  "a %s whose session is lost mid-stream fails with the loss, not a fault",
  async (side) => {
    const result = await fixtureAgainstOwnArbiter(`lost-midstream-${side}`, "lost-midstream", {
      ready: "streaming",
      config: { side },
      killArbiter: true,
    });
    expect(result).toMatchObject({ ok: false, code: "ConnectionLost" });
  },
  60_000,
);

// A receiver copying a chunk out through a bounce buffer (recv --out FILE under TCG) went on to copy the
// next piece from the ring its lost session had withdrawn while the consumer awaited: SIGSEGV.
test("a receiver whose session is lost between two pieces of a bounce-buffer copy fails with the loss, not a fault", async () => {
  const result = await fixtureAgainstOwnArbiter("lost-bounce", "lost-bounce", {
    ready: "copying",
    killArbiter: true,
  });
  expect(result).toMatchObject({ ok: false, pieces: 1, code: "ConnectionLost" });
}, 60_000);

// The same copy, its client's close() begun (not yet answered) in the consumer: close() withdraws the ring
// at once, and only a lost session was checked before the next piece was copied from it: SIGSEGV.
test("a receiver whose client's close() begins between two pieces of a bounce-buffer copy fails with the close, not a fault", async () => {
  const result = await fixtureAgainstOwnArbiter("close-bounce", "close-bounce", { ready: "copying" });
  expect(result).toMatchObject({ ok: false, pieces: 1, code: "ConnectionLost" });
}, 60_000);

// Without a bounce buffer the chunk is hashed after the consumer returns: from the ring close() withdrew.
test("a receiver whose client's close() begins in its consumer (no bounce buffer) fails with the close, not a fault", async () => {
  const result = await fixtureAgainstOwnArbiter("close-direct", "close-direct", { ready: "copying" });
  expect(result).toMatchObject({ ok: false, pieces: 1, code: "ConnectionLost" });
}, 60_000);

// receive() once close() has begun: the record already there was read from the withdrawn ring.
test("a receiver whose client's close() began before receive() was called fails with the close, not a fault", async () => {
  const result = await fixtureAgainstOwnArbiter("close-before", "close-direct", {
    ready: "copying",
    config: { when: "before" },
  });
  expect(result).toMatchObject({ ok: false, pieces: 0, code: "ConnectionLost" });
}, 60_000);

// A sender's write() or flush() once its client's close() has begun (its goodbye not yet answered): close()
// withdraws the ring at once, and only a lost session was checked before copying into it: SIGSEGV.
test.each(["write()", "flush()", "finish()", "finish() with nothing pending"])(
  "a sender's %s once its client's close() has begun fails with the close, not a fault",
  async (call) => {
    const own = `close-${call.replace(/\W+/g, "-")}`;
    const result = await fixtureAgainstOwnArbiter(own, "close-write", { ready: "writing", config: { call } });
    expect(result).toMatchObject({ ok: false, code: "ConnectionLost" });
  },
  60_000,
);

// A receiver in a VM client napping for its host sender (47d6d11): close() withdraws the ring at once,
// and the nap, seeing the sender's next record, handed the receiver on to read it: SIGSEGV.
test("a receiver napping for a sender in another VM, its client closed, fails with the close, not a fault", async () => {
  const result = await fixtureAgainstOwnArbiter("nap-close", "nap-close", { ready: "napping" });
  expect(result).toMatchObject({ ok: false, code: "ConnectionLost" });
}, 60_000);

describe("a wait parked in the arbiter, closed while the arbiter is away", () => {
  // Its own arbiter: each test kills it, and the file's other tests keep theirs.
  let awayPaths: TestPaths;
  let away: ArbiterProcess;
  beforeAll(async () => {
    awayPaths = testPaths("after-close-away");
    away = await ArbiterProcess.start(awayPaths);
  });
  beforeEach(() => away.revive());
  afterAll(async () => {
    await away?.stop();
    awayPaths?.cleanup();
  });

  // The waiter polls for the arbiter's return, parked again each time: close() ends that park with the
  // client's slots unmapped, and reading them then was a fault ('Bun has crashed', or SIGSEGV explained).
  test.each(["mutex", "condvar"])(
    "a %s wait fails with the closed-client error, not a fault",
    async (kind) => {
      const name = `parked-${kind}`;
      const holder =
        kind === "mutex" ? await connect({ socket: awayPaths.socket, region: awayPaths.region }) : undefined;
      await (await holder?.mutex(name))?.lock();
      const waiter = spawnFixture("closing-waiter", clientConfig(awayPaths, { kind, name }));
      try {
        await waiter.events.next("parked");
        await away.kill9();
        const exitCode = await waiter.exit();
        // How it ended first: a fault shows as the signal, with the guard's explanation on stderr.
        const stderr = await waiter.stderr;
        expect({ exitCode, signal: waiter.proc.signalCode, stderr }).toEqual({
          exitCode: 0,
          signal: null,
          stderr: "",
        });
        const ended = await waiter.events.next("ended");
        expect(ended).toMatchObject({ ok: false, code: "ConnectionLost" });
        expect(String(ended.message)).toMatch(/this client was closed/);
      } finally {
        waiter.proc.kill("SIGKILL");
        await holder?.close();
      }
    },
    60_000,
  );
});
