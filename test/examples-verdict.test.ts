/**
 * The report's Fig. 1 / Fig. 2 loops: the "owner-died" of a running pair's area lock is told once, to
 * whoever takes the lock next. A second writer (refused the area: the pair's is in use) that takes it must
 * pass it on, not throw it away, or the pair's survivor waits for ever for a peer that is gone.
 */
import { afterAll, expect, test } from "bun:test";
import { closeSync, constants, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { type Client, connect } from "../src/guest/index.ts";
import { REPO } from "./helpers/paths.ts";
import { eventually, spawnBun } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

let observer: Client | undefined;
// Before the shared arbiter's stop (hooks run in the order they are registered): closed once its arbiter
// has gone, a client waits up to a lease (60 s here) for it to come back, past the hook's 5 s.
afterAll(async () => await observer?.close());
// A long lease: the pair's writer is stopped (SIGSTOP) for a while, and must not be expired meanwhile.
const suite = sharedArbiter("examples-verdict", { lease: "60s" });

/** The area's condition variable as the arbiter sees it: its lock's holder and who has it open. */
async function fig1(): Promise<{ lockOwner: number; holderCount: number } | undefined> {
  observer ??= await connect({ socket: suite.socket, region: suite.region, name: "observer" });
  const found = (await observer.status(1000)).sync.find((object) => object.name === "fig1");
  return found && { lockOwner: found.lockOwner, holderCount: found.holderCount ?? found.holders.length };
}

// The reader blocks writing a chunk into a full FIFO, holding the lock; the writer parks on the lock and is
// stopped; a second writer parks on it too. The reader dies: the second writer takes the lock, told
// "owner-died", ignored it (its first acquire), was refused the area and let the lock go, so the pair's
// writer, continued, took a lock said "acquired", waited for the reader to take its chunk, and never ended.
test("a second writer that takes the pair's owner-died passes it on to the pair's writer", async () => {
  const bytes = 4 << 20;
  const input = join(suite.dir, "input");
  const fifo = join(suite.dir, "out.fifo");
  await Bun.write(input, new Uint8Array(bytes).fill(5));
  expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
  const drain = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK); // opened, never drained
  // A chunk of 128 KiB does not fit the FIFO's 64 KiB: the reader's first write blocks, holding the lock.
  const flags = ["--size", String((128 << 10) + 1), "--socket", suite.socket, "--region", suite.region];
  const reader = spawnBun([join(REPO, "examples/fig2-reader.ts"), fifo, String(bytes), ...flags]);
  const writer = spawnBun([join(REPO, "examples/fig1-writer.ts"), input, ...flags]);
  try {
    const oneByte = new Uint8Array(1);
    await eventually(
      async () => {
        try {
          return readSync(drain, oneByte) === 1;
        } catch {
          return false; // EAGAIN: nothing written yet
        }
      },
      30_000,
      "the reader's first chunk in the FIFO",
    );
    writer.proc.kill("SIGSTOP");
    const second = spawnBun([join(REPO, "examples/fig1-writer.ts"), input, ...flags]);
    await eventually(async () => (await fig1())?.holderCount === 3, 30_000, "the second writer's cv");
    reader.proc.kill("SIGKILL");
    expect(await reader.exit(30_000)).not.toBe(0);
    expect(await second.exit(30_000)).not.toBe(0);
    expect(await second.stderr).toMatch(/AlreadyExists|exists/);
    writer.proc.kill("SIGCONT");
    // Liveness bound only: without the fix the writer never exits ("late").
    expect(await writer.exit(30_000)).not.toBe(0);
    expect(await writer.stderr).toMatch(/the reader died holding the area.s lock/);
  } finally {
    writer.proc.kill("SIGCONT");
    closeSync(drain);
  }
}, 180_000);
