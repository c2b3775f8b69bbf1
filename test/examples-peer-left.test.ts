/**
 * The report's Fig. 1 / Fig. 2 loops when one end leaves while the other waits for it, not holding the
 * area's lock (killed; a reader given another BYTES than the file's size is refused at its start now,
 * examples-byte-count.test.ts): the lock says nothing then, and the end left waiting must still end
 * (PeerGone), not wait for ever.
 */
import { expect, test } from "bun:test";
import { closeSync, constants, openSync, readSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./helpers/paths.ts";
import { eventually, spawnBun } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("examples-left");
const where = () => ["--socket", suite.socket, "--region", suite.region];

// The reader holds the lock, its write into a full FIFO blocked; the writer, parked on the lock (not
// holding it), is killed; the FIFO drained, the reader waits for the next chunk, which never comes.
test("a writer killed while not holding the lock ends its reader, which does not wait for ever", async () => {
  const bytes = 4 << 20;
  const input = join(suite.dir, "input-killed");
  const fifo = join(suite.dir, "out-killed.fifo");
  await Bun.write(input, new Uint8Array(bytes).fill(3));
  expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
  const drain = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  // A chunk of 128 KiB does not fit the FIFO's 64 KiB: the reader's first write blocks, holding the lock.
  const flags = ["--size", String((128 << 10) + 1), ...where()];
  const reader = spawnBun([join(REPO, "examples/fig2-reader.ts"), fifo, String(bytes), ...flags]);
  const writer = spawnBun([join(REPO, "examples/fig1-writer.ts"), input, ...flags]);
  try {
    const buffer = new Uint8Array(1 << 16);
    const take = () => {
      try {
        return readSync(drain, buffer);
      } catch {
        return 0; // EAGAIN: nothing there now
      }
    };
    await eventually(async () => take() > 0, 30_000, "the reader's first chunk in the FIFO");
    writer.proc.kill("SIGKILL");
    expect(await writer.exit(30_000)).not.toBe(0);
    // Drained until the reader ends: without the fix it never does ("late").
    const ended = reader.exit(30_000);
    let done = false;
    void ended.finally(() => {
      done = true;
    });
    while (!done) if (take() === 0) await Bun.sleep(20);
    expect(await ended).not.toBe(0);
    const said = await reader.stderr;
    // After 1 chunk mostly; 2 when the drain let the reader end its first write and the writer sent the
    // next before the kill landed (a loaded machine): what matters is that the reader ended.
    expect(said).toMatch(
      /Failed to receive the file since the writer left after [1-9][0-9]* of the 32 chunks/,
    );
    expect(said).toContain("PeerGone");
  } finally {
    closeSync(drain);
  }
}, 120_000);
