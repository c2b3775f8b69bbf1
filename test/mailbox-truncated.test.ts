/**
 * The wake mailbox (src/region/mailbox.ts) is a file every user of the kernel may write (mode 0666), so
 * anyone may also truncate it. It holds only wake counters: a truncated one may cost a wake-up, never the
 * arbiter (docs/layout.md, "Parking": "nothing worse").
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync, truncateSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
import { parkedCount, SyncWord, slotWordIndex } from "../src/region/layout.ts";
import { mailboxPath } from "../src/region/mailbox.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, eventually, spawnFixture } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let mailbox: string | undefined;

beforeAll(async () => {
  paths = testPaths("mailbox-cut");
  arbiter = await ArbiterProcess.start(paths);
  mailbox = mailboxPath(paths.region);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
  if (mailbox) rmSync(mailbox, { force: true });
});

/** Clients of this process park only in the arbiter: they never map the mailbox themselves. */
function client(name: string) {
  return connect({ socket: paths.socket, region: paths.region, name, futexParking: false });
}

test("an arbiter whose wake mailbox someone truncated keeps serving", async () => {
  expect(mailbox).toBeDefined();
  const [stays, leaves] = [await client("stays"), await client("leaves")];
  try {
    await stays.mutex("m");
    await leaves.mutex("m");
    truncateSync(mailbox!, 0);
    // A session that ends makes the arbiter wake the host's sleepers of every slot it held, through the
    // mailbox: with its pages gone, a store there was SIGBUS, and every client lost its arbiter.
    await leaves.close();
    const after = await client("after");
    expect((await after.mutex("n")).tryLock()).toBe("acquired");
    await after.close();
  } finally {
    await stays.close().catch(() => {});
  }
  const { proc } = arbiter.spawned;
  expect({ exit: proc.exitCode, signal: proc.signalCode }).toEqual({ exit: null, signal: null });
}, 60_000);

test("a waiter parked on the futex when someone truncates the mailbox still gets the lock", async () => {
  const holder = await client("holder");
  try {
    const mutex = await holder.mutex("held");
    expect(mutex.tryLock()).toBe("acquired");
    const taker = spawnFixture("taker", clientConfig(paths, { mutex: "held" }), { IVSH_FUTEX: "1" });
    await taker.events.next("locking");
    const parked = slotWordIndex(holder.geometry, mutex.slot, SyncWord.lockParked);
    await eventually(
      async () => parkedCount(Atomics.load(holder.words, parked)) > 0,
      20_000,
      "the futex park",
    );
    truncateSync(mailbox!, 0);
    // Its sleep is cut in slices: at the next one it reads the mailbox word again, which was SIGBUS.
    await Bun.sleep(200);
    mutex.unlock();
    const locked = await taker.events.next("locked");
    expect(locked).toMatchObject({ ok: true, outcome: "acquired" });
    expect(await taker.exit()).toBe(0);
  } finally {
    await holder.close();
  }
}, 60_000);
