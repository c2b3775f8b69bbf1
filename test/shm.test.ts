/**
 * The report's shm_* API keeps one connection per process: shm_init is idempotent for the same options,
 * shares one connection between calls made at once, and refuses other options instead of ignoring them.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import {
  shm_acquire_cv,
  shm_alloc,
  shm_create_cv,
  shm_dealloc,
  shm_finish,
  shm_init,
  shm_notify_cv,
  shm_open,
  shm_release_cv,
  shm_uid,
  shm_wait_cv,
} from "../src/guest/shm.ts";
import { decodeFields } from "../src/protocol/codec.ts";
import { messages, SyncCreate, WaitOutcome } from "../src/protocol/messages.ts";
import { SlotKind, SlotWord, SyncWord } from "../src/region/layout.ts";
import { expectFailure, expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { rawClient } from "./helpers/raw.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("shm");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await shm_finish();
  await arbiter?.stop();
  paths?.cleanup();
});

test("before shm_init, a call says to call it", () => {
  expectFailure(() => shm_uid(), "ProtocolState", /shm_init\(\) has not been called/);
});

test("calls made at once share one connection; the same options again return the same uid", async () => {
  const where = { socket: paths.socket, region: paths.region };
  const uids = await Promise.all([shm_init(where), shm_init(where), shm_init(where)]);
  expect(new Set(uids).size).toBe(1);
  expect(await shm_init(where)).toBe(uids[0]!);
  expect(await shm_init()).toBe(uids[0]!); // no options: whatever this process is connected to
  expect((await shm_alloc(64)).bytes.byteLength).toBe(64);
  // One session for this process (the other is the status query's own).
  expect((await fetchStatus({ unix: paths.socket })).report.totals.clients).toBe(2);
});

test("other options are refused while connected; after shm_finish they are taken", async () => {
  await expectRejection(
    shm_init({ socket: `${paths.dir}/elsewhere.sock`, region: paths.region }),
    "InvalidArgument",
    /connected already, with other options .*call shm_finish\(\) first/,
  );
  const before = shm_uid();
  await shm_finish();
  expect(await shm_init({ socket: paths.socket, region: paths.region, name: "again" })).not.toBe(before);
});

test("shm_finish() while shm_init() still connects closes that connection: no session outlives the finish", async () => {
  await shm_finish();
  const where = { socket: paths.socket, region: paths.region, name: "finished-while-connecting" };
  const init = shm_init(where);
  const finished = shm_finish(); // the connect is under way: its hello is not answered yet
  await expectRejection(init, "ConnectionLost", /shm_finish\(\) was called while it connected/);
  await finished;
  expectFailure(() => shm_uid(), "ProtocolState", /shm_init\(\) has not been called/);
  // No session of this process is left on the arbiter (the one there is the status query's own).
  const { report } = await fetchStatus({ unix: paths.socket });
  expect(report.clients.map((client) => client.name)).not.toContain("finished-while-connecting");
  expect(report.totals.clients).toBe(1);
  // And the process may connect again.
  const uid = await shm_init({ ...where, name: "after-the-finish" });
  expect(shm_uid()).toBe(uid);
});

// Found by a review: a call made before shm_init() resolved (not awaited) was told it had not been called.
test("a call while shm_init() still connects says to await it, not that it was not called", async () => {
  await shm_finish();
  const init = shm_init({ socket: paths.socket, region: paths.region, name: "not-awaited" });
  try {
    expectFailure(
      () => shm_uid(),
      "ProtocolState",
      /since shm_init\(\) has not finished connecting yet \(await it first\)/,
    );
    const uid = await init;
    expect(shm_uid()).toBe(uid);
  } finally {
    await init.catch(() => undefined);
    await shm_finish();
  }
});

test("a condition variable used after shm_finish() says shm_init() was not called, not that its id is unknown", async () => {
  await shm_finish(); // the test before left this process connected
  const uid = await shm_init({ socket: paths.socket, region: paths.region, name: "finished-cv" });
  const cvid = await shm_create_cv("used-after-finish");
  await shm_finish();
  // Found by a review: "has not been called" alone was wrong once shm_init() had been, and finished.
  await expectRejection(
    Promise.resolve().then(() => shm_acquire_cv(cvid, uid)),
    "ProtocolState",
    /shm_init\(\) has not been called since shm_finish\(\) ended this process's connection/,
  );
});

// Found by a review: the id came back after the finish and was kept, so the next session took it (one its
// shm_create_cv() never returned) and failed with "Failed to get an answer ... connect() again to go on".
test("shm_create_cv() under way when shm_finish() runs rejects, and its id is not taken by the next session", async () => {
  await shm_finish();
  await shm_init({ socket: paths.socket, region: paths.region, name: "cv-during-finish" });
  const creating = shm_create_cv("created-during-finish");
  const refused = expectRejection(creating, "ConnectionLost", /shm_finish\(\) was called while it ran/);
  await shm_finish();
  await refused;
  const uid = await shm_init({ socket: paths.socket, region: paths.region, name: "after-cv-finish" });
  for (
    let cvid = 0;
    cvid < 256;
    cvid++ // whichever id it was given: none is this session's
  )
    await expectRejection(shm_acquire_cv(cvid, uid), "NotFound", /shm_create_cv\(\) did not return that id/);
  await shm_finish();
});

// Found by a review: they resolved with a segment of the finished session, whose bytes then said "its client
// was closed (connect() again)", advice a shm_* caller cannot follow.
test("shm_alloc() and shm_open() under way when shm_finish() runs reject, naming the finish", async () => {
  await shm_finish();
  const other = await connect({ socket: paths.socket, region: paths.region, name: "other-holder" });
  await other.alloc(64, { name: "opened-during-finish" });
  await shm_init({ socket: paths.socket, region: paths.region, name: "segments-during-finish" });
  const calls = [shm_alloc(64, "write", "allocated-during-finish"), shm_open("opened-during-finish", "read")];
  const settled = Promise.allSettled(calls);
  await shm_finish();
  await settled;
  for (const call of calls)
    await expectRejection(call, "ConnectionLost", /shm_finish\(\) was called while it ran/);
  await other.close();
});

test("shm_init with options that are not an object is refused as connect() refuses them", async () => {
  await shm_finish();
  await expectRejection(
    shm_init(null as unknown as Parameters<typeof shm_init>[0]), // a caller without types passes anything
    "InvalidArgument",
    /shm_init\(\) since its options null are not an object/,
  );
});

test("every shm_* call that returns a promise rejects, not throws at the call, when it cannot run", async () => {
  await shm_finish();
  const calls: [string, () => Promise<unknown>][] = [
    ["shm_alloc", () => shm_alloc(4096)],
    ["shm_open", () => shm_open("anything")],
    ["shm_acquire_cv", () => shm_acquire_cv(0, 1)],
    ["shm_wait_cv", () => shm_wait_cv(0, 1)],
  ];
  for (const [name, call] of calls) {
    let promise: Promise<unknown> | undefined;
    expect(() => {
      promise = call();
    }, name).not.toThrow();
    // Why there is no connection depends on the tests before (the last shm_init() here failed).
    await expectRejection(promise!, "ProtocolState", /^Failed to use the shm_\* API since /);
  }
});

test("a cv id or uid that is not a number is named as such, not as an unknown id or another client", async () => {
  await shm_finish();
  const uid = await shm_init({ socket: paths.socket, region: paths.region, name: "typed-ids" });
  const cvid = await shm_create_cv("typed-ids");
  // A caller without types: an id read back from a file or an environment variable is a string.
  const untyped = shm_acquire_cv as (cvid: unknown, uid: unknown) => Promise<unknown>;
  await expectRejection(
    untyped(String(cvid), uid),
    "InvalidArgument",
    new RegExp(`its cvid '${cvid}' is not a number \\(pass what shm_create_cv\\(\\) returned\\)`),
  );
  await expectRejection(
    untyped(cvid, String(uid)),
    "InvalidArgument",
    new RegExp(`its uid '${uid}' is not a number \\(pass what shm_init\\(\\) or shm_uid\\(\\) returned\\)`),
  );
  await expectRejection(untyped(cvid, undefined), "InvalidArgument", /its uid undefined is not a number/);
  await expectRejection(
    shm_acquire_cv(cvid, uid + 1),
    "PermissionDenied",
    new RegExp(`uid ${uid + 1} is not this client \\(its uid is ${uid}: shm_uid\\(\\)\\)`),
  );
  await shm_finish();
});

// Found by a trial: the report's double free was told "Failed to use segment 4 since it was freed".
test("shm_dealloc of a segment twice says it was freed already; a use after it says it was freed", async () => {
  await shm_finish();
  await shm_init({ socket: paths.socket, region: paths.region, name: "double-free" });
  const area = await shm_alloc(4096, "write", "double-freed");
  await shm_dealloc(area);
  await expectRejection(
    shm_dealloc(area),
    "NotHeld",
    /free segment \d+ since it was freed already \(free a segment once\)/,
  );
  expectFailure(() => area.bytes, "NotHeld", /use segment \d+ since it was freed/);
  await shm_finish();
});

// The lost session's uid came back, and every call then failed with the loss, whose advice ("start
// `ivsh host` again, then run this again") shm_init() could not follow: the process stayed stuck.
test("after the session is lost for good, shm_init() connects anew, not to the lost session", async () => {
  await shm_finish();
  const where = { socket: paths.socket, region: paths.region, reconnectTimeoutMs: 200 };
  const lostUid = await shm_init(where);
  await arbiter.stop();
  try {
    await expectRejection(shm_alloc(64), "ConnectionLost", /did not come back within 200 ms/);
    // Found by a review: shm_init() ended the lost session itself, so a failed one left calls told "since
    // shm_finish() ended this process's connection", a call this process never made.
    await expect(shm_init({ ...where, connectTimeoutMs: 200 })).rejects.toThrow();
    expectFailure(
      () => shm_uid(),
      "ProtocolState",
      /^Failed to use the shm_\* API since the last shm_init\(\) failed \(call shm_init\(\) again\)$/,
    );
  } finally {
    await arbiter.restart();
  }
  const uid = await shm_init(where);
  expect(uid).not.toBe(lostUid);
  expect(shm_uid()).toBe(uid);
  expect((await shm_alloc(64)).bytes.byteLength).toBe(64);
  await shm_finish();
}, 60_000);

test("a shm_init() that failed to connect is not kept: the next one, with other options too, tries again", async () => {
  await shm_finish();
  const nowhere = { socket: `${paths.dir}/nobody-listens.sock`, region: paths.region, connectTimeoutMs: 200 };
  await expect(shm_init(nowhere)).rejects.toThrow();
  // Found by a review: it was told shm_init() had not been called (since the shm_finish() before).
  expectFailure(
    () => shm_uid(),
    "ProtocolState",
    /since the last shm_init\(\) failed \(call shm_init\(\) again\)/,
  );
  const uid = await shm_init({ socket: paths.socket, region: paths.region });
  expect(shm_uid()).toBe(uid);
  await shm_finish();
});

test("shm_notify_cv() wakes one waiter parked in the arbiter, not all", async () => {
  await shm_finish();
  const uid = await shm_init({ socket: paths.socket, region: paths.region, futexParking: false });
  const cvid = await shm_create_cv("notify-one");
  const raw = await rawClient(paths.socket);
  const looker = await connect({ socket: paths.socket, region: paths.region });
  try {
    await raw.hello("parked");
    raw.send("syncOpen", 2, { name: "notify-one", kind: SlotKind.condvar, create: SyncCreate.openExisting });
    const { slot } = decodeFields(messages.syncOpen.reply, (await raw.answer(2)).body, "syncOpen");
    const words = looker.slotWords(slot);
    let requestId = 3;
    /** Two WAITs park as waiters in the arbiter do (counted on the sequence word), then a notify. */
    const attempt = async () => {
      const expected = Atomics.load(words, SlotWord.sequence);
      const ids = [requestId++, requestId++];
      for (const id of ids)
        raw.send("wait", id, { slot, word: SlotWord.sequence, expected, timeoutMs: 5000 });
      Atomics.add(words, SyncWord.sequenceQueued, 2);
      const synced = requestId++;
      raw.send("wake", synced, { slot, word: SlotWord.sequence, count: 0, reply: 1 });
      await raw.answer(synced);
      shm_notify_cv(cvid, uid);
      const outcomes = await Promise.all(
        ids.map(async (id) => decodeFields(messages.wait.reply, (await raw.answer(id)).body, "wait").outcome),
      );
      Atomics.sub(words, SyncWord.sequenceQueued, 2);
      return outcomes;
    };
    // The one not woken is ended by the sweep (or its timeout), seeing the sequence moved on; a sweep
    // between the notify's bump and its WAKE ends both so: then again.
    let outcomes = await attempt();
    for (let tries = 1; tries < 3 && outcomes[0] === WaitOutcome.valueChanged; tries++)
      outcomes = await attempt();
    expect(outcomes.filter((outcome) => outcome === WaitOutcome.woken)).toHaveLength(1);
  } finally {
    raw.socket.end();
    await looker.close();
    await shm_finish();
  }
});

// Found by a package trial: shm_wait_cv() without the cv's lock said "(lock() it first)", a call the
// shm_* API has none of, and CondVar's own is acquire(); then "(acquire() it first; shm_acquire_cv()
// through ivsh/shm)", both APIs' words, as shm_release_cv() and shm_acquire_cv() now are not.
test("shm_wait_cv() without the cv's lock names the call that takes it", async () => {
  await shm_init({ socket: paths.socket, region: paths.region });
  const cv = await shm_create_cv("waited-unheld");
  await expectRejection(
    shm_wait_cv(cv, shm_uid()),
    "NotHeld",
    new RegExp(
      `^Failed to wait on condition variable ${cv} \\('waited-unheld'\\) since this process does not hold its lock: it is not locked \\(shm_acquire_cv\\(\\) it first\\)$`,
    ),
  );
  await shm_finish();
});

// Found by a review: a shm_* user's misuse was told in the object API's words, calls it never made:
// "Failed to unlock 'c' since it is not locked", and "Failed to lock 'c' since this client holds it
// already (... tasks that contend for it each connect their own)", which a process of one shm_init() cannot.
test("shm_release_cv() without the lock and shm_acquire_cv() twice are told in the shm_* calls' words", async () => {
  const uid = await shm_init({ socket: paths.socket, region: paths.region });
  const cv = await shm_create_cv("misused");
  const released = () => shm_release_cv(cv, uid);
  expectFailure(
    released,
    "NotHeld",
    new RegExp(
      `^Failed to release condition variable ${cv} \\('misused'\\) since this process does not hold its lock: it is not locked \\(shm_acquire_cv\\(\\) it first\\)$`,
    ),
  );
  expect(await shm_acquire_cv(cv, uid)).toBe("acquired");
  await expectRejection(
    shm_acquire_cv(cv, uid),
    "InvalidArgument",
    new RegExp(
      `^Failed to acquire condition variable ${cv} \\('misused'\\) since this process holds its lock already \\(it is taken once per process: shm_release_cv\\(\\) it first\\)$`,
    ),
  );
  shm_release_cv(cv, uid); // still held once: the refused second acquire took nothing
  expectFailure(released, "NotHeld", /since this process does not hold its lock: it is not locked/);
  const other = await connect({ socket: paths.socket, region: paths.region });
  try {
    await (await other.condvar("misused")).acquire();
    expectFailure(
      released,
      "NotHeld",
      new RegExp(
        `: uid ${other.clientId} holds it, not this process \\(uid ${uid}\\) \\(shm_acquire_cv\\(\\) it first\\)$`,
      ),
    );
  } finally {
    await other.close();
  }
  await shm_finish();
});

// Found by a review: shm_create_cv() refused in the object API's words, "Failed to open condvar '' since
// the name is empty", for a call named create and a thing the shm_* API calls a condition variable.
test("shm_create_cv() refusing a name says create condition variable, not open condvar", async () => {
  await shm_init({ socket: paths.socket, region: paths.region });
  await expectRejection(
    shm_create_cv(""),
    "InvalidArgument",
    /^Failed to create condition variable '' since the name is empty \(name it: 1 to 255 bytes of UTF-8\)$/,
  );
  await expectRejection(
    shm_create_cv(5 as unknown as string),
    "InvalidArgument",
    /^Failed to create a condition variable since its name 5 is not a string$/,
  );
  const other = await connect({ socket: paths.socket, region: paths.region });
  try {
    await other.mutex("a-mutex");
    await expectRejection(
      shm_create_cv("a-mutex"),
      "InvalidArgument",
      // What to do too (found by a trial: it said only what the name was).
      /^Failed to create condition variable 'a-mutex' since 'a-mutex' is a mutex \(one name is one object: open it as the mutex it is, or give the condvar another name\)$/,
    );
  } finally {
    await other.close();
  }
  await shm_finish();
});
