/**
 * A client that connects while the region's header is overwritten (IVSHMEM lets any guest write it): the
 * arbiter answered its hello, so it waits for the arbiter's sweep to put the header back instead of
 * saying that no arbiter serves the region; if the header stays bad, it says what it saw.
 */
import { expect, test } from "bun:test";
import { closeSync, openSync, writeSync } from "node:fs";
import { clientConfig, eventually, runCli, spawnBun, spawnFixture } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

// The default lease: its sweep, which puts the header back, comes every second.
const suite = sharedArbiter("header-restore", { lease: "5s" });

/** What a scribbling guest does: the header's first 16 bytes (magic, layout version, ...) zeroed. */
function overwriteHeader(): void {
  const fd = openSync(suite.region, "r+");
  writeSync(fd, new Uint8Array(16), 0, 16, 0);
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
  // Another process rewriting the zeros faster than the arbiter's sweeps put the header back.
  const scribbler = spawnBun([
    "-e",
    `const fs = require("node:fs"); const fd = fs.openSync(${JSON.stringify(suite.region)}, "r+");
     const zeros = new Uint8Array(16); fs.writeSync(fd, zeros, 0, 16, 0); console.log('{"event":"scribbling"}');
     for (;;) fs.writeSync(fd, zeros, 0, 16, 0);`,
  ]);
  await scribbler.events.next("scribbling");
  try {
    const client = spawnFixture("late-connect", clientConfig(suite.paths));
    await client.events.next("ready");
    client.proc.stdin.write("connect\n");
    // Its hello answered, the arbiter is stopped until the client gives up: else, on a loaded machine, a
    // sweep that restores the header while the scribbler is off the CPU lets the client connect.
    await eventually(async () => (await statusFindings()).includes('"late-connect"'), 20_000, "its hello");
    process.kill(suite.arbiter.pid, "SIGSTOP");
    let failed: Record<string, unknown>;
    try {
      failed = await client.events.next("failed");
    } finally {
      process.kill(suite.arbiter.pid, "SIGCONT");
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
    scribbler.proc.kill();
    await scribbler.proc.exited;
  }
  // Left alone, the header is put back: the next client connects.
  const client = spawnFixture("late-connect", clientConfig(suite.paths));
  client.proc.stdin.write("connect\n");
  expect(await client.events.next("connected")).toMatchObject({ event: "connected" });
  expect(await client.exit()).toBe(0);
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
