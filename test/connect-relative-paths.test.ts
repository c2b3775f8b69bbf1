/**
 * connect() given a relative socket and region (the option, or IVSH_SOCKET) keeps their absolute paths:
 * a process that changes directory after connecting still reaches a restarted arbiter. Real processes: the
 * arbiter is killed and started again while the clients, now in /, wait.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, rmdirSync, symlinkSync } from "node:fs";
import { relative } from "node:path";
import { connect } from "../src/guest/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, spawnFixture } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("connect-relative");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

// Left open by an earlier session: the endpoint kept "arbiter.sock" as given, so after a chdir() every
// reconnect looked for /arbiter.sock, found none, and the session was given up when the arbiter came back.
test("a client that changed directory after connecting with relative paths reconnects to the restarted arbiter", async () => {
  const reconnectTimeoutMs = 20_000; // a liveness bound: the arbiter is back within a few seconds
  const given = {
    dir: paths.dir,
    socket: relative(paths.dir, paths.socket),
    region: relative(paths.dir, paths.region),
    reconnectTimeoutMs,
  };
  const clients = [
    spawnFixture("moved-client", given),
    spawnFixture("moved-client", { ...given, viaEnvironment: true }),
  ];
  const sources: unknown[] = [];
  for (const client of clients) sources.push((await client.events.next("connected")).source);
  await arbiter.kill9();
  await arbiter.restart();
  for (const client of clients) {
    client.proc.stdin.write("alloc\n");
    client.proc.stdin.flush();
  }
  for (const client of clients) {
    const { event: _, ...said } = await client.events.next("result", 2 * reconnectTimeoutMs);
    expect(said).toMatchObject({ ok: true });
    expect(await client.exit()).toBe(0);
  }
  // The region is named absolutely too, as its errors and shm_init()'s comparison take it.
  expect(sources).toEqual([paths.region, paths.region]);
}, 60_000);

// Found by a second review: making the paths absolute asked process.cwd(), which throws a raw ENOENT once
// the working directory was removed; connect() had said what it could not find, as it does again.
test("connect() with relative paths from a removed working directory fails with its own errors", async () => {
  const home = process.cwd();
  const gone = `${paths.dir}/gone`;
  mkdirSync(gone);
  process.chdir(gone);
  try {
    rmdirSync(gone);
    await expectRejection(
      connect({ socket: "arbiter.sock", region: paths.region, connectTimeoutMs: 0 }),
      "ArbiterUnreachable",
      /at arbiter\.sock since no socket exists there/,
    );
    await expectRejection(
      connect({ socket: paths.socket, region: "region", connectTimeoutMs: 0 }),
      "DeviceNotFound",
      /map the region region since it does not exist/,
    );
  } finally {
    process.chdir(home);
  }
});

// Found by a second review: a socket whose absolute path does not fit sun_path stays relative, so a chdir()
// after connecting still sends the reconnects elsewhere; the client was told only to start an arbiter that
// was running. It is told the path is relative, where it was looked for, and what to do.
test("a client whose socket stayed relative (too long absolute) is told so when a reconnect finds nothing", async () => {
  const deep = `${paths.dir}/${"d".repeat(100)}`;
  mkdirSync(deep);
  symlinkSync(paths.dir, `${deep}/link`);
  const client = spawnFixture("moved-client", {
    dir: deep,
    socket: "link/arbiter.sock",
    region: paths.region,
    reconnectTimeoutMs: 2000, // how long it looks at /link/arbiter.sock, where nothing will ever be
  });
  await client.events.next("connected");
  await arbiter.kill9();
  await arbiter.restart();
  client.proc.stdin.write("alloc\n");
  client.proc.stdin.flush();
  const { event: _, ...said } = await client.events.next("result", 30_000);
  expect(said).toMatchObject({ ok: false, code: "ConnectionLost" });
  expect(String((said as { message?: string }).message)).toContain(
    "link/arbiter.sock is relative, looked for from this process's working directory (/), as its absolute path does not fit",
  );
  expect(await client.exit()).toBe(0);
}, 60_000);
