/**
 * A client's wake-up file across an arbiter restart (src/guest/wake-file.ts, `followWakeFile`) when nothing
 * happened to the file: a resumed client keeps the one it parks on, and says so (`Client.parking`), and a
 * client that turned futex parking off keeps it off (its event loop has other work: a futex sleep blocks
 * it). Neither is what test/wake-file-removed.test.ts looks at, whose files are removed; and whatever a
 * client mapped goes with its close, a resume's file included.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { type Client, connect } from "../src/guest/index.ts";
import { SyncWord } from "../src/region/layout.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, eventually, livenessBoundMs } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let wake: string;
const clients: Client[] = [];

beforeEach(async () => {
  paths = testPaths("mut35-wake-follow");
  wake = `${paths.region}.wake`;
  arbiter = await ArbiterProcess.start(paths, { lease: "1s" });
});
afterEach(async () => {
  for (const client of clients.splice(0)) await client.close();
  await arbiter?.stop();
  paths?.cleanup();
});

async function connected(name: string, extra: Record<string, unknown> = {}): Promise<Client> {
  const client = await connect({ ...clientConfig(paths, extra), name });
  clients.push(client);
  return client;
}

/** The wake-up files this process maps for `path` (/proc/self/maps: a removed one ends " (deleted)"). */
function mappedWakeFiles(path: string): string[] {
  const lines = readFileSync("/proc/self/maps", "utf8").split("\n");
  return [
    ...new Set(lines.filter((line) => line.includes(path)).map((line) => line.slice(line.indexOf("/")))),
  ];
}

async function restarted(...resuming: Client[]): Promise<void> {
  await arbiter.stop();
  await arbiter.restart();
  for (const client of resuming)
    await eventually(
      async () => client.reconnects === 1 && !(await client.status(0)).problems,
      livenessBoundMs(1000),
      `client ${client.clientId} to resume with the restarted arbiter`,
    );
}

test("an arbiter restarted with its wake-up file kept: a resumed client keeps parking on it, and says so", async () => {
  const futex = await connected("futex");
  expect(futex.parking).toBe(`futex in ${wake}, else the arbiter`);
  await restarted(futex);
  expect(futex.parking).toBe(`futex in ${wake}, else the arbiter`);
  expect(mappedWakeFiles(wake)).toEqual([wake]);
}, 60_000);

test("a client with futex parking turned off keeps it off across a restart: its waiters park in the arbiter", async () => {
  const off = await connected("off", { futexParking: false });
  const holder = await connected("holder", { futexParking: false });
  await restarted(off, holder);
  expect(off.parking).toBe("arbiter only (futex parking turned off)");
  expect(mappedWakeFiles(wake)).toEqual([]);
  const held = await holder.mutex("handoff-off");
  const waiter = await off.mutex("handoff-off");
  await held.lock();
  const locking = waiter.lock();
  const words = off.slotWords(waiter.slot);
  await eventually(
    async () => Atomics.load(words, SyncWord.lockQueued) === 1,
    livenessBoundMs(1000),
    "the waiter to park in the arbiter",
  );
  expect(Atomics.load(words, SyncWord.lockParked)).toBe(0);
  await held.unlock();
  await locking;
  await waiter.unlock();
}, 60_000);

test("a client that moved to a restarted arbiter's new wake-up file maps none once closed", async () => {
  const before = await connected("before");
  rmSync(wake);
  await restarted(before);
  expect(mappedWakeFiles(wake)).toEqual([wake]);
  await clients.splice(0)[0]!.close();
  expect(mappedWakeFiles(wake)).toEqual([]);
}, 60_000);
