/**
 * A client that connects while the region's header is overwritten (IVSHMEM lets any guest write it): the
 * arbiter answered its hello, so it waits for the arbiter's sweep to put the header back instead of
 * saying that no arbiter serves the region; if the header stays bad, it says what it saw.
 */
import { expect, test } from "bun:test";
import { closeSync, openSync, writeSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { hookingRelay, stopSweeps } from "./helpers/hello-relay.ts";
import { clientConfig, eventually, runCli, spawnFixture } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

// The default lease: its sweep, which puts the header back, comes every second.
const suite = sharedArbiter("header-restore", { lease: "5s" });

/** What a scribbling guest does: the header's first 16 bytes (magic, layout version, ...) zeroed. */
function overwriteHeader(): void {
  const fd = openSync(suite.region, "r+");
  writeSync(fd, new Uint8Array(16), 0, 16, 0);
  closeSync(fd);
}

test("connecting while the header is overwritten: the client waits for the arbiter to restore it, and connects", async () => {
  const client = spawnFixture("late-connect", clientConfig(suite.paths));
  await client.events.next("ready");
  overwriteHeader();
  client.proc.stdin.write("connect\n");
  expect(await client.exit()).toBe(0);
  await client.events.finished;
  // Before the fix: {"event":"failed","code":"RegionInvalid",...,"it holds no ivsh header (is an arbiter serving it?"}
  expect(client.events.text).toContain('"event":"connected"');
  await eventually(
    async () => (await statusFindings()).includes("the region header was overwritten"),
    20_000,
    "the arbiter's report of the overwritten header",
  );
}, 60_000);

test("a header that stays overwritten: RegionInvalid naming what was seen and that the arbiter answered", async () => {
  // The client reaches the arbiter through a relay that, when the arbiter's first answer (the hello's)
  // passes, stops the arbiter and overwrites the header before handing the answer on: no sweep can put
  // the header back while the client waits (a process rewriting the zeros raced the sweeps, and on a loaded
  // machine lost: a sweep that ran while it was off the CPU let the client connect).
  const relayed = join(suite.dir, "hello-stops-arbiter.sock");
  let stopped = false;
  const relay = hookingRelay(suite.socket, relayed);
  relay.state.onAnswer = () => {
    stopped = true;
    stopSweeps(suite.arbiter.pid); // waits for its state T: a sweep already under way has finished
    overwriteHeader();
  };
  [relay.state.armed, relay.state.drop] = [true, false];
  try {
    const client = spawnFixture("late-connect", { ...clientConfig(suite.paths), socket: relayed });
    await client.events.next("ready");
    client.proc.stdin.write("connect\n");
    let failed: Record<string, unknown>;
    try {
      failed = await client.events.next("failed");
    } finally {
      if (stopped) process.kill(suite.arbiter.pid, "SIGCONT");
    }
    expect(failed.code).toBe("RegionInvalid");
    expect(failed.message).toContain("its header is not valid (it holds no ivsh header");
    expect(failed.message).toContain("although that arbiter answered");
    expect(failed.message).toContain("retry");
    expect(failed.message).not.toContain("start `ivsh host`");
    // The file is of the arbiter's size: not called another region, nor sent looking for another --region.
    expect(failed.message).not.toContain("pass the matching --region");
    expect(await client.exit()).toBe(0);
  } finally {
    relay.listener.stop(true);
  }
  // Left alone, the header is put back: the next client connects.
  const client = spawnFixture("late-connect", clientConfig(suite.paths));
  client.proc.stdin.write("connect\n");
  expect(await client.events.next("connected")).toMatchObject({ event: "connected" });
  expect(await client.exit()).toBe(0);
}, 60_000);

// connect()'s signal ends its wait for the header to be put back: not waited out (3 s at this lease)
// and then told as RegionInvalid, a header that "stays overwritten", though the caller gave up first.
test("connect() aborted while it waits for an overwritten header: its wait ends Interrupted, not RegionInvalid", async () => {
  const relayed = join(suite.dir, "hello-stops-arbiter-abort.sock");
  const controller = new AbortController();
  let stopped = false;
  const relay = hookingRelay(suite.socket, relayed);
  relay.state.onAnswer = () => {
    stopped = true;
    stopSweeps(suite.arbiter.pid);
    overwriteHeader();
    // Past the hello's answer (handed on right after this), well inside the wait (2 sweeps + 1 s: 3 s).
    setTimeout(() => controller.abort(), 300);
  };
  [relay.state.armed, relay.state.drop] = [true, false];
  try {
    const { region, socket } = { region: suite.region, socket: relayed };
    const error = await connect({ socket, region, signal: controller.signal }).then(
      (client) => client.close().then(() => undefined),
      (thrown: unknown) => thrown,
    );
    expect(stopped).toBe(true);
    expect(error).toMatchObject({ code: "Interrupted" });
  } finally {
    if (stopped) process.kill(suite.arbiter.pid, "SIGCONT");
    relay.listener.stop(true);
  }
  // Let go, the arbiter puts the header back: the next client connects.
  await eventually(
    async () => {
      const client = await connect({ socket: suite.socket, region: suite.region }).catch(() => undefined);
      await client?.close();
      return client !== undefined;
    },
    20_000,
    "a client to connect once the header is put back",
  );
}, 60_000);

// The instance field alone overwritten (bytes 48-55, here all ones: no arbiter chooses a number past 2^48)
// was taken for the whole header of another arbiter and refused at once, "served by another arbiter".
test("connecting while only the header's arbiter instance is overwritten: the client waits for it to be restored, and connects", async () => {
  const client = spawnFixture("late-connect", clientConfig(suite.paths));
  await client.events.next("ready");
  const fd = openSync(suite.region, "r+");
  writeSync(fd, new Uint8Array(8).fill(0xff), 0, 8, 48);
  client.proc.stdin.write("connect\n");
  expect(await client.exit()).toBe(0);
  await client.events.finished;
  expect(client.events.text).toContain('"event":"connected"');
}, 60_000);

// Zeroed, as a guest clearing memory it took for its own leaves it: 0 is no instance an arbiter chooses
// either (they run from 1), so it too is an overwrite waited on, not another arbiter's region refused.
test("connecting while the header's arbiter instance is zeroed: the client waits for it to be restored, and connects", async () => {
  const client = spawnFixture("late-connect", clientConfig(suite.paths));
  await client.events.next("ready");
  const fd = openSync(suite.region, "r+");
  writeSync(fd, new Uint8Array(8), 0, 8, 48);
  closeSync(fd);
  client.proc.stdin.write("connect\n");
  expect(await client.exit()).toBe(0);
  await client.events.finished;
  expect(client.events.text).toContain('"event":"connected"');
  expect(client.events.text).not.toContain("served by another arbiter");
}, 60_000);

async function statusFindings(): Promise<string> {
  const { stdout } = await runCli(["status", "--json", "--socket", suite.socket]);
  return stdout;
}
