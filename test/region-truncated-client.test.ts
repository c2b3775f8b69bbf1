/**
 * The region file truncated on the host while clients use it. Found in trial 31 (`truncate -s 0 REGION`
 * under a waiting client): the client died of the fault (SIGBUS), and the arbiter, ending its session,
 * released its locks in the missing pages and died of a bus error too, leaving a stale socket. A
 * connection's close now looks at the region's size first: the arbiter exits 1 saying the region was
 * truncated, as its sweep does. Its clients are then told so at once, not after their reconnect timeout as
 * if the arbiter had merely gone away (a CI run's transfer waited 30 s and said "did not come back"); one
 * that connects before the arbiter stops is told the file it mapped is cut short, not to pass another
 * --region. Real processes: the arbiter, the transfer's ends.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { copyFileSync, truncateSync } from "node:fs";
import { join } from "node:path";
import type { FileSink } from "bun";
import { IvshError } from "../src/errors.ts";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { expectOneLine } from "./helpers/host-run.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, livenessBoundMs, runCli, spawnBun } from "./helpers/processes.ts";
import { guest } from "./helpers/transfer.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("region-truncated-client");
});
afterAll(() => paths?.cleanup());

test("the region truncated under a waiting receiver: the arbiter exits 1 saying so, not of a bus error", async () => {
  const arbiter = await ArbiterProcess.start(paths);
  const receiver = guest(paths, ["recv", "--channel", "tr", "--out", join(paths.dir, "out")]);
  try {
    // Waiting: parked on its channel's slot. (Its slot alone was not enough: a request of its set-up, its
    // wait among them, that came after the truncation read the missing page and faulted the arbiter.)
    await eventually(
      async () => (await fetchStatus({ unix: paths.socket })).report.sync.some((slot) => slot.waiters > 0),
      20_000,
      "the receiver waiting on its channel",
    );
    truncateSync(paths.region, 0);
    const { proc } = arbiter.spawned;
    // A liveness bound: the sweep (once a second) says it too, if no connection closes first.
    await arbiter.spawned.exit(20_000).catch(() => undefined);
    const stderr = await arbiter.spawned.stderr;
    // Before: signal SIGBUS, exit code null, no word of the truncation.
    expect({ signal: proc.signalCode, code: proc.exitCode }, stderr).toEqual({ signal: null, code: 1 });
    expect(stderr).toContain(`the region file ${paths.region} was truncated to 0 bytes`);
  } finally {
    receiver.proc.kill("SIGKILL");
    await receiver.proc.exited;
    await arbiter.stop().catch(() => undefined);
  }
});

const LEASE_MS = 5000;
/** A client's reconnect timeout far past any bound here: a client that waits it out fails the test. */
const RECONNECT_MS = 600_000;
const REGION_BYTES = 16 << 20;
const KEPT_BYTES = 1 << 20;

function own(label: string) {
  return {
    ...paths,
    region: join(paths.shmDir, `${label}.region`),
    socket: join(paths.dir, `${label}.sock`),
    state: join(paths.dir, `${label}.state`),
  };
}

/** The arbiter's own exit, which the truncation causes: its code and what it said. */
async function stoppedOnTruncation(host: ArbiterProcess): Promise<string> {
  const code = await host.spawned.exit(livenessBoundMs(LEASE_MS));
  expect(code).not.toBe(0);
  return host.spawned.stderr;
}

test("a library client whose region file is truncated is told so once its arbiter stops, not after its reconnect timeout", async () => {
  const files = own("client");
  const host = await ArbiterProcess.start(files, { lease: `${LEASE_MS}ms` });
  const client = await connect({
    socket: files.socket,
    region: files.region,
    reconnectTimeoutMs: RECONNECT_MS,
  });
  try {
    truncateSync(files.region, KEPT_BYTES);
    expect(await stoppedOnTruncation(host)).toContain(`was truncated to ${KEPT_BYTES} bytes`);
    const answer = client.status(0).then(
      () => "answered",
      (error: unknown) => error,
    );
    const bound = Bun.sleep(livenessBoundMs(LEASE_MS)).then(() => "still waiting for its arbiter");
    const error = await Promise.race([answer, bound]);
    expect(error).toBeInstanceOf(IvshError);
    expect((error as IvshError).code).toBe("RegionInvalid");
    expect((error as IvshError).message).toBe(
      `Failed to go on with the region ${files.region} since the file was truncated to ${KEPT_BYTES} bytes ` +
        `(from ${REGION_BYTES}) while in use: its contents are lost and its arbiter stops on it (remove the ` +
        "file, then start `ivsh host` again)",
    );
  } finally {
    await client.close({ waitForArbiter: false });
  }
}, 60_000);

test("a client connecting with the served region's first MiB only is told the file is cut short", async () => {
  const files = own("copy");
  const host = await ArbiterProcess.start(files, { lease: `${LEASE_MS}ms` });
  const part = join(paths.shmDir, "part-copy.region");
  try {
    copyFileSync(files.region, part);
    truncateSync(part, KEPT_BYTES);
    const refused = await connect({ socket: files.socket, region: part, connectTimeoutMs: 2000 }).then(
      async (client) => {
        await client.close();
        return undefined;
      },
      (error: unknown) => error as IvshError,
    );
    expect(refused?.code).toBe("RegionInvalid");
    expect(refused?.message).toContain(
      `since the file is ${KEPT_BYTES} bytes, the first of the ${REGION_BYTES}-byte region that arbiter serves ` +
        "(its header is that arbiter's): it was truncated while in use",
    );
    expect(refused?.message).toContain("or it is part of a copy (pass the region the arbiter serves");
  } finally {
    await host.stop();
  }
}, 60_000);

/**
 * Writes `bytes` of `piece` to a sender's stdin, then ends it. The sender may have failed already: its
 * stdin is then a broken pipe, which is expected, at once (EPIPE thrown) or later (its promise rejected).
 */
async function feedUntilBroken(stdin: FileSink, piece: Uint8Array, bytes: number): Promise<void> {
  try {
    for (let sent = 0; sent < bytes; sent += piece.byteLength)
      Promise.resolve(stdin.write(piece)).catch(() => undefined);
    await Promise.resolve(stdin.end()).catch(() => undefined);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "EPIPE") throw error;
  }
}

/** Until the arbiter reports the transfer under way: both ends hold their roles and bytes moved. */
async function transferUnderWay(files: { socket: string; region: string }): Promise<void> {
  const observer = await connect({ socket: files.socket, region: files.region, name: "observer" });
  try {
    await eventually(
      async () => {
        const [transfer] = (await observer.status()).transfers;
        return transfer !== undefined && transfer.sender > 0 && transfer.receiver > 0 && transfer.bytes > 0;
      },
      livenessBoundMs(LEASE_MS),
      "a transfer under way",
    );
  } finally {
    await observer.close();
  }
}

test("a region truncated under a transfer: each end explains its failure, and a restart says the contents are lost", async () => {
  const files = own("transfer");
  const host = await ArbiterProcess.start(files, { lease: `${LEASE_MS}ms` });
  const env = { IVSH_SOCKET: files.socket, IVSH_REGION: files.region };
  const receiver = spawnBun([CLI, "guest", "recv", "--out", "-"], env);
  // The default ring (8 chunks of 1 MiB) lies wholly beyond the first MiB that the truncation keeps.
  const sender = spawnBun([CLI, "guest", "send", "-"], env);
  try {
    const piece = new Uint8Array(64 << 10).fill(7);
    for (let sent = 0; sent < 8 << 20; sent += piece.byteLength) sender.proc.stdin.write(piece);
    await sender.proc.stdin.flush();
    await transferUnderWay(files);
    truncateSync(files.region, KEPT_BYTES);
    await feedUntilBroken(sender.proc.stdin, piece, 8 << 20);
    const bound = livenessBoundMs(LEASE_MS);
    const [sent, received] = [await sender.exit(bound), await receiver.exit(bound)];
    expect([sent === 0, received === 0]).toEqual([false, false]);
    // Whichever end meets the missing pages first explains them (a read(2) or write(2) at the ring gets
    // EFAULT, a direct touch SIGBUS); one that meets only its arbiter's stop is told of the truncation.
    const said = `${await sender.stderr}${await receiver.stderr}`;
    expect(said).toMatch(
      /the shared region's pages behind the ring are gone \(EFAULT\)|with no memory behind it|the file was truncated to/,
    );
    expect(said).not.toContain("did not come back");
  } finally {
    await host.kill9();
  }
  const restart = await runCli([
    "host",
    "--region",
    files.region,
    "--socket",
    files.socket,
    "--state",
    files.state,
  ]);
  expect(restart.exitCode).toBe(1);
  expectOneLine(
    restart.stderr,
    "since the file is 1.00 MiB but the state records a 16.0 MiB region: it was truncated or replaced and its contents are lost",
  );
}, 90_000);
