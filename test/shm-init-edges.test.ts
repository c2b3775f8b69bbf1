/**
 * Edges of src/guest/shm.ts (mutation round 20): a shm_init() naming nothing is this process's connection
 * whatever the environment now says; a shm_init() that fails after a shm_finish() leaves the next one's
 * connection alone; shm_release_cv() after this process was frozen past half its lease says so in its
 * own words.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { shm_create_cv, shm_finish, shm_init, shm_release_cv, shm_uid } from "../src/guest/shm.ts";
import { expectFailure } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
const LEASE_MS = 1000;

beforeAll(async () => {
  paths = testPaths("shm-init-edges");
  arbiter = await ArbiterProcess.start(paths, { lease: `${LEASE_MS}ms` });
});
afterAll(async () => {
  await shm_finish();
  await arbiter?.stop();
  paths?.cleanup();
});

test("shm_init() naming nothing returns this process's uid though IVSH_CONNECT now names no address", async () => {
  await shm_finish();
  const uid = await shm_init({ socket: paths.socket, region: paths.region });
  const saved = { IVSH_SOCKET: process.env.IVSH_SOCKET, IVSH_CONNECT: process.env.IVSH_CONNECT };
  delete process.env.IVSH_SOCKET;
  process.env.IVSH_CONNECT = "not an address";
  try {
    expect(await shm_init()).toBe(uid);
    expect(await shm_init({ reconnectTimeoutMs: 5000 })).toBe(uid);
  } finally {
    for (const [key, value] of Object.entries(saved))
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
  }
  await shm_finish();
});

test("a shm_init() failing after shm_finish() ended it leaves the next shm_init()'s connection alone", async () => {
  await shm_finish();
  const where = { socket: paths.socket, region: paths.region };
  process.kill(arbiter.pid, "SIGSTOP"); // both hellos wait: the first gives up, the second is answered
  let second: Promise<number>;
  try {
    const first = shm_init({ ...where, name: "gives-up", connectTimeoutMs: 100 });
    const finished = shm_finish();
    second = shm_init({ ...where, name: "after-the-finish", connectTimeoutMs: 60_000 });
    await expect(first).rejects.toThrow(); // its hello unanswered, or the finish named
    await finished;
  } finally {
    process.kill(arbiter.pid, "SIGCONT");
  }
  const uid = await second;
  expect(shm_uid()).toBe(uid);
  await shm_finish();
}, 30_000);

test("a shm_finish() with no connection leaves what calls are told as it was (the last shm_init() failed)", async () => {
  await shm_finish();
  const nowhere = { socket: `${paths.dir}/nobody-listens.sock`, region: paths.region, connectTimeoutMs: 100 };
  await expect(shm_init(nowhere)).rejects.toThrow();
  await shm_finish(); // nothing to end: "since shm_finish() ended this process's connection" would be untrue
  expectFailure(
    () => shm_uid(),
    "ProtocolState",
    /since the last shm_init\(\) failed \(call shm_init\(\) again\)$/,
  );
});

test("shm_init() refusing its options says, to later calls, that the last shm_init() failed", async () => {
  await shm_init({ socket: paths.socket, region: paths.region });
  await shm_finish();
  await expect(shm_init(null as never)).rejects.toThrow(/its options null are not an object/);
  expectFailure(
    () => shm_uid(),
    "ProtocolState",
    /since the last shm_init\(\) failed \(call shm_init\(\) again\)$/,
  );
});

test("shm_release_cv() of a cv another holds, after a freeze past half the lease, is told in its own words", async () => {
  await shm_finish();
  const uid = await shm_init({ socket: paths.socket, region: paths.region, name: "frozen" });
  const other = await connect({ socket: paths.socket, region: paths.region, name: "holder" });
  try {
    const cvid = await shm_create_cv("held-elsewhere");
    await (await other.condvar("held-elsewhere")).acquire();
    Bun.sleepSync(LEASE_MS / 2 + 200); // this process frozen (its timers could not run) past half its lease
    expectFailure(
      () => shm_release_cv(cvid, uid),
      "LeaseExpired",
      new RegExp(
        `^Failed to release condition variable ${cvid} \\('held-elsewhere'\\) since this process was stopped or starved`,
      ),
    );
  } finally {
    await other.close();
    await shm_finish();
  }
});
