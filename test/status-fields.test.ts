/**
 * Fields of the status report a client reads (client.status(), `ivsh status --json`): whether each client
 * is connected, `onlyClient` with a limit of 0, and a held lock whose owner did not die; and the text of
 * `ivsh status` (its own process) about them.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, runCli } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let client: Client;

beforeAll(async () => {
  paths = testPaths("status-fields");
  arbiter = await ArbiterProcess.start(paths);
  client = await connect({ ...clientConfig(paths), name: "asker" });
});
afterAll(async () => {
  await client?.close();
  await arbiter?.stop();
  paths?.cleanup();
});

test("a connected client is listed as connected, with how long it has been idle", async () => {
  const { clients } = await client.status();
  expect(clients).toEqual([expect.objectContaining({ clientId: client.clientId, connected: true })]);
  expect(clients[0]!.idleMs).toBeGreaterThanOrEqual(0);
});

test("onlyClient with a limit of 0 lists no client, as any list cut to 0", async () => {
  expect((await client.status(10, client.clientId)).clients.map((entry) => entry.clientId)).toEqual([
    client.clientId,
  ]);
  const cut = await client.status(0, client.clientId);
  expect(cut.clients).toEqual([]);
  expect(cut.totals.clients).toBe(1);
});

test("a lock held by a live client names it, and does not say its owner died", async () => {
  const mutex = await client.mutex("status-held");
  await mutex.lock();
  try {
    const [entry] = (await client.status()).sync.filter((object) => object.name === "status-held");
    expect(entry).toMatchObject({ lockOwner: client.clientId, ownerDied: false });
  } finally {
    await mutex.unlock();
  }
});

test("`ivsh status` counts a VM's blocks as it counts a client's: '1 block allocated', not '1 blocks'", async () => {
  const segment = await client.alloc(1, { name: "one-block" });
  try {
    const result = await runCli(["status", "--socket", paths.socket, "--region", paths.region]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toMatch(/^ {2}host: 1 client \(#\d+\); 1 block allocated$/m);
    expect(result.stdout).toMatch(/, 1 grant, 1 block$/m);
  } finally {
    await segment.free();
  }
});
