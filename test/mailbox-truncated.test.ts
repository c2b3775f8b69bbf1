/**
 * The wake mailbox (src/region/mailbox.ts) is a file every user of the kernel may write (mode 0666), so
 * anyone may also truncate it. It holds only wake counters: a truncated one may cost a wake-up, never the
 * arbiter (docs/layout.md, "Parking": "nothing worse").
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { rmSync, truncateSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
import { mailboxPath } from "../src/region/mailbox.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

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
