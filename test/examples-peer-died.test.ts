/**
 * The report's Fig. 1 / Fig. 2 loops when one end dies holding the area's lock: the other end is told
 * "owner-died" by shm_acquire_cv / shm_wait_cv, and must end, not wait for ever for a peer that is gone.
 */
import { expect, test } from "bun:test";
import { statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./helpers/paths.ts";
import { eventually, spawnBun } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("examples-died");

// The writer reads each chunk from its file under the lock: a file cut short mid-transfer ends it
// (SourceChanged) holding the lock. The reader's wait said "owner-died", was ignored, and it waited on.
test("a writer that dies holding the lock ends its reader, which does not wait for ever", async () => {
  const bytes = 32 << 20;
  const input = join(suite.dir, "input");
  const output = join(suite.dir, "output");
  await Bun.write(input, new Uint8Array(bytes).fill(7));
  const flags = ["--size", "4097", "--socket", suite.socket, "--region", suite.region];
  const reader = spawnBun([join(REPO, "examples/fig2-reader.ts"), output, String(bytes), ...flags]);
  const writer = spawnBun([join(REPO, "examples/fig1-writer.ts"), input, ...flags]);
  await eventually(
    async () => statSync(output, { throwIfNoEntry: false })?.size !== undefined && statSync(output).size > 0,
    30_000,
    "the reader's first chunk",
  );
  truncateSync(input, 0);
  expect(await writer.exit(30_000)).not.toBe(0);
  expect(await writer.stderr).toMatch(/SourceChanged|ended/);
  // Liveness bound only: without the fix the reader never exits ("late").
  expect(await reader.exit(30_000)).not.toBe(0);
  expect(await reader.stderr).toMatch(/the writer died holding the area.s lock/);
}, 120_000);

// The reader writes each chunk out under the lock: into /dev/full that fails (ENOSPC) holding the lock.
// The writer's wait said "owner-died", was ignored, and it waited on for a reader that was gone.
test("a reader that dies holding the lock ends its writer, which does not wait for ever", async () => {
  const bytes = 1 << 20;
  const input = join(suite.dir, "input-for-full");
  await Bun.write(input, new Uint8Array(bytes).fill(9));
  const flags = ["--size", "4097", "--socket", suite.socket, "--region", suite.region];
  const reader = spawnBun([join(REPO, "examples/fig2-reader.ts"), "/dev/full", String(bytes), ...flags]);
  const writer = spawnBun([join(REPO, "examples/fig1-writer.ts"), input, ...flags]);
  expect(await reader.exit(30_000)).not.toBe(0);
  expect(await reader.stderr).toMatch(/ENOSPC|space/);
  // Liveness bound only: without the fix the writer never exits ("late").
  expect(await writer.exit(30_000)).not.toBe(0);
  expect(await writer.stderr).toMatch(/the reader died holding the area.s lock/);
}, 120_000);

// A second writer waits for the area's lock, then is refused the area (AlreadyExists): it must let the
// lock go before it fails, else its exit marks the lock owner-died and the running pair takes that for
// the death of its peer.
test("a second writer refused the area leaves the running pair to finish", async () => {
  const bytes = 8 << 20;
  const input = join(suite.dir, "input-shared");
  const output = join(suite.dir, "output-shared");
  const data = crypto.getRandomValues(new Uint8Array(1 << 16));
  const whole = new Uint8Array(bytes);
  for (let offset = 0; offset < bytes; offset += data.length) whole.set(data, offset);
  await Bun.write(input, whole);
  const flags = ["--size", "4097", "--socket", suite.socket, "--region", suite.region];
  const reader = spawnBun([join(REPO, "examples/fig2-reader.ts"), output, String(bytes), ...flags]);
  const writer = spawnBun([join(REPO, "examples/fig1-writer.ts"), input, ...flags]);
  await eventually(
    async () => (statSync(output, { throwIfNoEntry: false })?.size ?? 0) > 0,
    30_000,
    "the reader's first chunk",
  );
  const second = spawnBun([join(REPO, "examples/fig1-writer.ts"), input, ...flags]);
  expect(await second.exit(30_000)).not.toBe(0);
  expect(await second.stderr).toMatch(/AlreadyExists|exists/);
  expect([await writer.exit(60_000), await reader.exit(60_000)]).toEqual([0, 0]);
  expect(Bun.hash.xxHash3(await Bun.file(output).bytes())).toBe(Bun.hash.xxHash3(whole));
}, 120_000);
