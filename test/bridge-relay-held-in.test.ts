/**
 * A relaying bridge holds the guest back while the arbiter takes nothing (src/host/bridge.ts pumpInput):
 * it reads the guest's next bytes only once the arbiter's socket took the last, so an arbiter that stops
 * reading (its hold, docs/protocol.md section 11, or a stall) stops the guest, and the bridge keeps no
 * more than a chunk of the guest's in its memory. In this process: a stand-in arbiter answers the
 * identify and then reads nothing; the guest offers 16 chunks of 1 MiB.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { runBridge } from "../src/host/bridge.ts";
import { encodeFrame } from "../src/protocol/codec.ts";
import { FrameKind, messages } from "../src/protocol/messages.ts";
import { eventually } from "./helpers/processes.ts";

const dir = mkdtempSync("/tmp/ivsh-bridge-relay-held-in-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const CHUNKS = 16;
const CHUNK_BYTES = 1 << 20;

test("an arbiter that reads nothing stops the bridge reading its guest: far fewer than 16 MiB taken", async () => {
  const socket = join(dir, "arbiter.sock");
  const listener = Bun.listen({
    unix: socket,
    socket: {
      data(connection) {
        // The identify answered, nothing more is read (as by an arbiter holding the connection).
        connection.write(encodeFrame(FrameKind.reply, messages.identify.op, 0, messages.identify.reply, {}));
        connection.pause();
      },
    },
  });
  const chunk = new Uint8Array(CHUNK_BYTES).fill(0x5a);
  let pulled = 0;
  const input = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (pulled === CHUNKS) return controller.close();
        pulled++;
        controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
  const relaying = runBridge("held-vm", socket, { input, output: { write: () => undefined } }).catch(
    (error: unknown) => error,
  );
  // Settled: the same count over several looks (the bridge reads on at once if it does not hold back).
  const seen: number[] = [];
  await eventually(
    async () => {
      seen.push(pulled);
      return seen.length >= 5 && seen.slice(-5).every((count) => count === pulled) && pulled > 0;
    },
    30_000,
    "the guest's reads to settle",
  );
  listener.stop(true);
  await relaying;
  expect(pulled).toBeLessThan(CHUNKS / 2);
}, 60_000);

test("an arbiter that reads slowly: the bridge keeps at most about a chunk of the guest's ahead of it", async () => {
  const socket = join(dir, "slow-arbiter.sock");
  let received = 0;
  let pulled = 0;
  let mostAhead = 0;
  let identified = false;
  const listener = Bun.listen({
    unix: socket,
    socket: {
      data(connection, bytes) {
        if (!identified) {
          identified = true;
          connection.write(
            encodeFrame(FrameKind.reply, messages.identify.op, 0, messages.identify.reply, {}),
          );
          return;
        }
        received += bytes.byteLength;
        // What the bridge has read of its guest and the arbiter has not had yet.
        mostAhead = Math.max(mostAhead, pulled * CHUNK_BYTES - received);
        // A read now and then: each lets the bridge's socket drain a little.
        connection.pause();
        setTimeout(() => connection.resume(), 2);
      },
    },
  });
  const chunk = new Uint8Array(CHUNK_BYTES).fill(0x5a);
  const input = new ReadableStream<Uint8Array>(
    {
      pull(controller) {
        if (pulled === CHUNKS) return controller.close();
        pulled++;
        controller.enqueue(chunk);
      },
    },
    { highWaterMark: 0 },
  );
  const relaying = runBridge("slow-vm", socket, { input, output: { write: () => undefined } });
  await eventually(async () => received === CHUNKS * CHUNK_BYTES, 30_000, "every byte reaching the arbiter");
  listener.stop(true);
  await relaying;
  // One chunk in the bridge's outbox, at most, and what the sockets' buffers hold (well under a chunk).
  expect(mostAhead).toBeLessThan(2 * CHUNK_BYTES);
}, 90_000);
