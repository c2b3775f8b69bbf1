/**
 * The region's wake-up file (`REGION.wake`, src/region/mailbox.ts) removed or replaced under a running
 * arbiter (a clean-up of /dev/shm, an `rm` of REGION.*). A host client that connected since made a new file
 * and futex-parked on it, where neither the arbiter nor any client connected before woke it: every hand-off
 * between the two then waited for the sleeper's 16 ms slice to end (counted with real processes: 19 of 20
 * sleeps ended on their timeout, the other side's 20 wakes reached nobody), and nothing said so. Now such a
 * client makes no file and parks in the arbiter, saying why in its facts, and the arbiter's status names the
 * file until it is back.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import {
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { type Client, connect } from "../src/guest/index.ts";
import { SyncWord } from "../src/region/layout.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import {
  ArbiterProcess,
  clientConfig,
  eventually,
  livenessBoundMs,
  spawnFixture,
} from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let client: Client;
let wake: string;

beforeEach(async () => {
  paths = testPaths("wake34-file");
  wake = `${paths.region}.wake`;
  // A 1 s lease sweeps every 250 ms.
  arbiter = await ArbiterProcess.start(paths, { lease: "1s" });
  client = await connect({ ...clientConfig(paths), name: "before" });
});
afterEach(async () => {
  await client?.close();
  await arbiter?.stop();
  paths?.cleanup();
});

/** Status's problems once one naming the wake-up file is among them. */
async function wakeProblems(): Promise<string[]> {
  let problems: string[] = [];
  await eventually(
    async () => {
      problems = (await client.status(0)).problems ?? [];
      return problems.some((problem) => problem.includes("wake-up file"));
    },
    livenessBoundMs(1000),
    "status to name the wake-up file",
  ).catch((error: Error) => {
    throw new Error(`${error.message}; it named: ${JSON.stringify(problems)}`);
  });
  return problems;
}

test("a host client connecting after REGION.wake was removed makes no file and parks in the arbiter, saying why", async () => {
  rmSync(wake);
  const later = await connect({ ...clientConfig(paths), name: "after" });
  try {
    expect(existsSync(wake)).toBe(false);
    expect(later.parking).toBe(
      `arbiter only (no wake-up file at ${wake}, which the arbiter makes at its start: removed while it ran ` +
        "(ivsh status names it; restart the arbiter: this client parks on the one it makes as it resumes), or " +
        "the arbiter could not make it (its log says why), or the arbiter serves this file by another name (a " +
        "hard link, or the file alone bind-mounted: map it by the arbiter's --region path, or mount its directory))",
    );
    // A hand-off from the client before to the one after: the later waiter is queued in the arbiter (the
    // earlier client's unlock then WAKEs it there), not counted as a futex sleeper of this kernel.
    const holder = await client.mutex("handoff");
    const waiter = await later.mutex("handoff");
    await holder.lock();
    const locking = waiter.lock();
    const words = later.slotWords(waiter.slot);
    await eventually(
      async () => Atomics.load(words, SyncWord.lockQueued) === 1,
      livenessBoundMs(1000),
      "the later client to park in the arbiter",
    );
    expect(Atomics.load(words, SyncWord.lockParked)).toBe(0);
    await holder.unlock();
    await locking;
    await waiter.unlock();
  } finally {
    await later.close();
  }
}, 60_000);

test("REGION.wake removed under the arbiter: named in status until it is moved back", async () => {
  renameSync(wake, `${wake}.away`);
  const wanted = `the region's wake-up file ${wake} was removed or replaced while the arbiter ran`;
  expect(await wakeProblems()).toEqual([
    `${wanted}: host clients that connect since park in the arbiter (a socket round trip per wake-up), or on ` +
      "a file put there that no earlier client wakes (a 16 ms wait per hand-off) (if it was moved, move it " +
      "back; else restart the arbiter: it makes the file again, and its host clients park on that one as they " +
      "resume)",
  ]);
  renameSync(`${wake}.away`, wake);
  await eventually(
    async () => (await client.status(0)).problems === undefined,
    livenessBoundMs(1000),
    "status to name no problem once the wake-up file is back",
  );
  await arbiter.stop();
  const stderr = await arbiter.spawned.stderr;
  expect(stderr).toContain(`ERROR ${wanted}`);
  expect(stderr.split(wanted).length - 1).toBe(1);
  expect(stderr).toContain(
    `the region's wake-up file ${wake} is back: host clients that connect park on a futex again`,
  );
}, 60_000);

test("REGION.wake replaced by another file under the arbiter: named in status", async () => {
  writeFileSync(`${wake}.other`, Buffer.alloc(statSync(wake).size));
  renameSync(`${wake}.other`, wake);
  expect(await wakeProblems()).toEqual([
    expect.stringContaining("was removed or replaced while the arbiter ran"),
  ]);
}, 60_000);

/** The wake-up files this process maps for `path` (/proc/self/maps: a removed one ends " (deleted)"). */
function mappedWakeFiles(path: string): string[] {
  const lines = readFileSync("/proc/self/maps", "utf8").split("\n");
  return [
    ...new Set(lines.filter((line) => line.includes(path)).map((line) => line.slice(line.indexOf("/")))),
  ];
}

test("REGION.wake removed, then the arbiter restarted: a client that resumes parks on the file the new arbiter made", async () => {
  rmSync(wake);
  const parked = await connect({ ...clientConfig(paths), name: "parked" });
  try {
    expect(parked.parking).toStartWith("arbiter only (no wake-up file at");
    await arbiter.stop();
    await arbiter.restart();
    expect(existsSync(wake)).toBe(true);
    for (const resuming of [client, parked])
      await eventually(
        async () => resuming.reconnects === 1 && !(await resuming.status(0)).problems,
        livenessBoundMs(1000),
        "the client to resume with the restarted arbiter",
      );
    // Kept, the removed file split the host's futex parkers as before 32c47ac6: the restarted arbiter and the
    // clients connecting since wake the new one, and nothing wakes a sleeper on the old one but its slice's end.
    expect(mappedWakeFiles(wake)).toEqual([wake]);
    expect(client.parking).toBe(`futex in ${wake}, else the arbiter`);
    expect(parked.parking).toBe(`futex in ${wake}, else the arbiter`);
    // A hand-off from a client connecting since to the resumed one: the waiter futex-parks, and is woken.
    const later = await connect({ ...clientConfig(paths), name: "later" });
    try {
      const holder = await later.mutex("handoff-restart");
      const waiter = await client.mutex("handoff-restart");
      await holder.lock();
      const locking = waiter.lock();
      const words = client.slotWords(waiter.slot);
      await eventually(
        async () => Atomics.load(words, SyncWord.lockParked) !== 0,
        livenessBoundMs(1000),
        "the resumed client to futex-park",
      );
      await holder.unlock();
      await locking;
      await waiter.unlock();
    } finally {
      await later.close();
    }
  } finally {
    await parked.close();
  }
}, 60_000);

test("a host client naming the region by a hard link finds no wake-up file beside it, and is told so", async () => {
  const link = `${paths.region}-link`;
  linkSync(paths.region, link);
  const linked = await connect({ ...clientConfig(paths), region: link, name: "linked" });
  try {
    expect(existsSync(`${link}.wake`)).toBe(false);
    expect(linked.parking).toEndWith(
      "or the arbiter serves this file by another name (a hard link, or the file alone bind-mounted: map it by " +
        "the arbiter's --region path, or mount its directory))",
    );
  } finally {
    await linked.close();
  }
}, 60_000);

/**
 * The file removed and the arbiter restarted where it cannot make one (a directory there: EISDIR): a resumed
 * client kept futex-parking on the removed file, which nothing wakes any more (the arbiter and the clients
 * connecting since park and wake in the arbiter), so its hand-offs waited for its sleeps' 16 ms slices
 * while `Client.parking` still said "futex in REGION.wake". It now parks in the arbiter too, saying why.
 */
test("REGION.wake removed, the arbiter restarted unable to make one: a resumed client parks in the arbiter", async () => {
  expect(client.parking).toBe(`futex in ${wake}, else the arbiter`);
  await restartUnableToMakeIt();
  expect({ parking: client.parking, mapped: mappedWakeFiles(wake) }).toEqual({
    parking: expect.stringMatching(/^arbiter only \(/),
    mapped: [],
  });
  // Its waits are woken by the arbiter now: a hand-off from a client connecting since.
  const later = await connect({ ...clientConfig(paths), name: "later" });
  try {
    const holder = await later.mutex("handoff-no-file");
    const waiter = await client.mutex("handoff-no-file");
    await holder.lock();
    const locking = waiter.lock();
    await holder.unlock();
    await locking;
    await waiter.unlock();
  } finally {
    await later.close();
  }
}, 60_000);

/** The arbiter restarted with a directory at REGION.wake (EISDIR: it cannot make one), the file removed. */
async function restartUnableToMakeIt(): Promise<void> {
  await arbiter.stop();
  rmSync(wake);
  mkdirSync(wake);
  await arbiter.restart();
  await eventually(
    async () => client.reconnects === 1,
    livenessBoundMs(1000),
    "the client to resume with the restarted arbiter",
  );
}

/**
 * Review of 50051b53: a wait under way across such a restart, parked on the removed file's futex as it
 * resumes (useMailbox(undefined) closes it), ends its futex park and parks again in the arbiter, where the
 * wake-up reaches it: it neither hangs nor touches the unmapped file (a fault would end this process).
 */
test("a mutex lock futex-parked across a restart unable to make REGION.wake: woken through the arbiter", async () => {
  const holder = spawnFixture(
    "holder",
    clientConfig(paths, { mutex: "across", segment: "across-held", unlockOnCommand: true }),
  );
  try {
    await holder.events.next("holding");
    const mutex = await client.mutex("across");
    const locking = mutex.lock();
    // Parked on the futex (its first LOCAL_PARK_MS, 500 ms, are there): resumed ~300 ms later here.
    await Bun.sleep(100);
    await restartUnableToMakeIt();
    expect({ parking: client.parking, mapped: mappedWakeFiles(wake) }).toEqual({
      parking: expect.stringMatching(/^arbiter only \(/),
      mapped: [],
    });
    holder.proc.stdin.write("unlock\n");
    await holder.events.next("unlocked");
    expect(await locking).toBe("acquired");
    await mutex.unlock();
  } finally {
    holder.proc.kill();
    await holder.exit();
  }
}, 60_000);

test("a condvar wait futex-parked across a restart unable to make REGION.wake: a notify reaches it", async () => {
  const cv = await client.condvar("across-cv");
  await cv.acquire();
  const waiting = cv.wait();
  await Bun.sleep(100);
  await restartUnableToMakeIt();
  const later = await connect({ ...clientConfig(paths), name: "notifier" });
  try {
    const other = await later.condvar("across-cv");
    await other.acquire();
    other.notify();
    await other.release();
    expect(await waiting).toBe("notified");
    await cv.release();
  } finally {
    await later.close();
  }
}, 60_000);
