/**
 * `cv-loop --side writer|reader --mode ivsh|rpc|socket` (sync-rounds.ts starts them): the report's
 * Fig. 1 / Fig. 2 loops moving `--bytes` through one `--area`-byte shared area (a "data available" byte,
 * then the chunk). `ivsh`: a CondVar (spin, futex, arbiter). `rpc`: the same loops paying one arbiter
 * round trip per acquire, release, wait and notify, parking only in the arbiter: the report's design.
 * `socket`: the same chunks written to and read from a Unix socket.
 */
import { failure } from "../errors.ts";
import type { Client } from "../guest/client.ts";
import type { CondVar } from "../guest/sync.ts";
import { SyncWord } from "../region/layout.ts";
import { receiveStream, repeatedChunk, sendStream } from "./stream-worker.ts";
import { emit, meet, type WorkerFlags, withWorkerClient } from "./worker-io.ts";

/** A slot word a condvar leaves free: where the two loop workers count themselves in. */
const START_WORD = SyncWord.firstUnused;
const OPEN_TIMEOUT_MS = 30_000;

interface Ops {
  acquire(): Promise<unknown>;
  release(): void | Promise<void>;
  wait(): Promise<unknown>;
  notify(): void | Promise<void>;
}

/** The CondVar itself, or the report's design: an arbiter round trip (a heartbeat) before every operation. */
function loopOps(client: Client, cv: CondVar, mode: string): Ops {
  const names = ["acquire", "release", "wait", "notify"] as const;
  const op = (name: (typeof names)[number]) =>
    mode === "ivsh"
      ? () => cv[name]()
      : async () => {
          await client.confirmLease();
          await cv[name]();
        };
  return Object.fromEntries(names.map((name) => [name, op(name)])) as unknown as Ops;
}

/** Runs `work` on the condvar `--name` of a client of its own (futex parking optional, for the RPC loops). */
export async function withCondvar(
  flags: WorkerFlags,
  role: string,
  work: (client: Client, cv: CondVar) => Promise<void>,
  futexParking = true,
): Promise<void> {
  await withWorkerClient(
    flags,
    `bench ${role}`,
    async (client) => work(client, await client.condvar(flags.string("name"))),
    { futexParking },
  );
}

export async function runCondvarLoop(flags: WorkerFlags): Promise<void> {
  const mode = flags.string("mode");
  if (mode === "socket") return runSocketLoop(flags);
  const writer = flags.string("side") === "writer";
  const loop = async (client: Client, cv: CondVar) => {
    const area = flags.size("area");
    const segment = writer
      ? await client.alloc(area, { name: flags.string("name") })
      : await openArea(client, flags);
    await meet(client.slotWords(cv.slot), START_WORD, 2);
    const started = Bun.nanoseconds();
    const ops = loopOps(client, cv, mode);
    const chunks = await copyLoop(ops, segment.bytes, flags.size("bytes"), writer);
    emit({ event: "loop", seconds: (Bun.nanoseconds() - started) / 1e9, chunks });
    if (writer) await waitUntilTaken(cv, segment.bytes);
    await segment.free();
  };
  await withCondvar(flags, `cv-loop ${flags.string("side")}`, loop, mode === "ivsh");
}

async function openArea(client: Client, flags: WorkerFlags) {
  const deadline = Date.now() + OPEN_TIMEOUT_MS;
  for (;;) {
    try {
      return await client.open(flags.string("name"), "write");
    } catch (error) {
      if (Date.now() > deadline) throw error;
      await Bun.sleep(2);
    }
  }
}

/**
 * Fig. 1's writer copies the next chunk in when the area is empty, Fig. 2's reader copies it out when it
 * is full; each waits for the other otherwise. One reused buffer per side, as the report's C++ has.
 */
async function copyLoop(ops: Ops, area: Uint8Array, total: number, writer: boolean): Promise<number> {
  const chunk = area.byteLength - 1;
  const buffer = new Uint8Array(chunk).fill(writer ? 0x5a : 0);
  const chunks = Math.ceil(total / chunk);
  for (let i = 0; i < chunks; ) {
    await ops.acquire();
    // The flag and the chunk are plain bytes: the condvar's lock orders them between the two sides.
    if (area[0] === (writer ? 0 : 1)) {
      const length = Math.min(chunk, total - i * chunk);
      if (writer) area.set(buffer.subarray(0, length), 1);
      else buffer.set(area.subarray(1, 1 + length));
      ++i;
      area[0] = writer ? 1 : 0;
      await ops.notify();
    } else await ops.wait();
    await ops.release();
  }
  if (buffer[0] !== 0x5a) throw failure("Internal", "read the report's loop", "the chunk did not arrive");
  return chunks;
}

/** The writer frees the area only after the reader has taken the last chunk. */
async function waitUntilTaken(cv: CondVar, area: Uint8Array): Promise<void> {
  await cv.acquire();
  while (area[0]) await cv.wait();
  cv.release();
}

/** The same chunks through a Unix socket: the writer sends from one buffer, the reader copies into one. */
async function runSocketLoop(flags: WorkerFlags): Promise<void> {
  const total = flags.size("bytes");
  const chunk = flags.size("area") - 1;
  const address = flags.string("address");
  if (flags.string("side") === "reader") {
    const sink = new Uint8Array(chunk);
    const copy = (bytes: Uint8Array, offset: number) => {
      for (let at = 0; at < bytes.byteLength; ) {
        const into = (offset + at) % chunk;
        const take = Math.min(chunk - into, bytes.byteLength - at);
        sink.set(bytes.subarray(at, at + take), into);
        at += take;
      }
      return undefined;
    };
    const { seconds } = await receiveStream({ transport: "unix", address }, copy, total);
    emit({ event: "loop", seconds, chunks: Math.ceil(total / chunk) });
    return;
  }
  const source = repeatedChunk(new Uint8Array(chunk).fill(0x5a), total);
  // Across a VM the writer is in the guest and reaches the host's reader through the VM's network.
  await sendStream(address, flags.optional("across") === "vm", source);
  emit({ event: "loop", seconds: 0, chunks: Math.ceil(total / chunk) });
}
