/**
 * The arbiter's own cost per request at the scale of `ivsh bench --scale` (1 000 sessions, 100 000
 * segments), without sockets or other processes: frames are fed to the dispatcher in-process and the
 * replies taken from a stand-in socket. Prints µs per request, then the time of each part of a sweep.
 * OPS=alloc,open,status,wait,wake runs each operation alone in turn, between "MARK op" lines on stderr,
 * so the collections each one causes can be counted (docs/bench/scale.md, "Allocation per request"), and
 * prints each one's CPU time per request (alloc and open alternate with a free):
 *
 *   IVSH_LOG_LEVEL=error bun scripts/experiments/arbiter-micro.ts [requests]
 *   IVSH_LOG_LEVEL=error bun --cpu-prof-md --cpu-prof-dir /tmp/prof scripts/experiments/arbiter-micro.ts
 *   OPS=alloc,open,status,wait,wake IVSH_LOG_LEVEL=error IVSH_COMPACT_AFTER_RECORDS=100000000 \
 *     BUN_JSC_logGC=1 bun scripts/experiments/arbiter-micro.ts 60000 2>&1 | grep -E '^MARK|Requesting GC'
 */
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import { Connection } from "../../src/host/connection.ts";
import { handleData } from "../../src/host/dispatch.ts";
import { runAtOnce } from "../../src/host/slices.ts";
import { startArbiter } from "../../src/host/start.ts";
import { decodeFields, encodeFrame } from "../../src/protocol/codec.ts";
import {
  FRAME_HEADER_BYTES,
  FrameKind,
  type MessageName,
  messages,
  PROTOCOL_VERSION,
  type Request,
  WIRE_MAGIC,
} from "../../src/protocol/messages.ts";

const SESSIONS = 1000;
const PER_SESSION = 100;
const REQUESTS = Number(process.argv[2] ?? 200_000);

const dir = mkdtempSync("/dev/shm/ivsh-micro-");
const arbiter = await startArbiter({
  regionPath: join(dir, "region"),
  regionSize: 512 * 1024 * 1024,
  blockSize: 4096,
  slotCount: 1024,
  statePath: join(dir, "state"),
  socketPath: join(dir, "sock"),
  leaseMs: 600_000,
  helloWaitMs: 600_000,
  clientQuotaBlocks: 0,
  vmQuotaBlocks: 0,
});

/** A connection whose socket keeps the last frame written. */
class Fake {
  last: Uint8Array = new Uint8Array(0);
  readonly connection: Connection;
  constructor() {
    const socket = {
      write: (bytes: Uint8Array) => {
        this.last = new Uint8Array(bytes); // replies are written from one reused buffer
        return bytes.byteLength;
      },
      shutdown() {},
      end() {},
    };
    this.connection = new Connection(socket as unknown as Socket<Connection>, 600_000);
  }
  call<N extends MessageName>(name: N, fields: Request<N>, id: number): Record<string, number | string> {
    const m = messages[name];
    this.last = new Uint8Array(0);
    handleData(arbiter, this.connection, encodeFrame(FrameKind.request, m.op, id, m.request, fields));
    if (this.last.byteLength === 0) throw new Error(`${name}: no reply (a parked wait?)`);
    const kind = this.last[6];
    const body = this.last.subarray(FRAME_HEADER_BYTES);
    if (kind === FrameKind.error) throw new Error(`${name}: ${Buffer.from(body.subarray(4)).toString()}`);
    return decodeFields(m.reply, body, name);
  }
}

const fakes = Array.from({ length: SESSIONS }, () => new Fake());
let id = 1;
for (const [index, fake] of fakes.entries())
  fake.call(
    "hello",
    { magic: WIRE_MAGIC, version: PROTOCOL_VERSION, clientName: `c${index}`, pid: 1, sessionToken: "" },
    id++,
  );
for (const [index, fake] of fakes.entries())
  for (let n = 0; n < PER_SESSION; n++)
    fake.call("alloc", { bytes: 0, blocks: 1, mode: 2, name: `s-${index}-${n}` }, id++);
const slots = fakes.map((fake, index) =>
  Number(fake.call("syncOpen", { name: `pair-${index >> 1}`, kind: 1, create: 1 }, id++).slot),
);
const transient: number[][] = fakes.map(() => []);

const mix = ["alloc", "free", "open", "status", "wait", "wake"] as const;
const only = process.env.OPS?.split(",");
function one(n: number, op: (typeof mix)[number]): void {
  const who = n % SESSIONS;
  const fake = fakes[who]!;
  if (op === "free" && transient[who]!.length === 0) op = "alloc";
  if (op === "alloc" && transient[who]!.length > 4) op = "free";
  if (op === "open" && transient[who]!.length > 4) op = "free";
  switch (op) {
    case "alloc":
      transient[who]!.push(
        Number(fake.call("alloc", { bytes: 0, blocks: 1, mode: 2, name: "" }, id++).segmentId),
      );
      break;
    case "free":
      fake.call("free", { segmentId: transient[who]!.shift()! }, id++);
      break;
    case "open": {
      const other = (who + 1 + Math.floor(Math.random() * (SESSIONS - 1))) % SESSIONS;
      const name = `s-${other}-${Math.floor(Math.random() * PER_SESSION)}`;
      try {
        transient[who]!.push(Number(fake.call("open", { name, mode: 1 }, id++).segmentId));
      } catch {
        // already held by this client: an error reply, which is a request too
      }
      break;
    }
    case "status":
      fake.call("status", { limit: 0, onlyClient: 0 }, id++);
      break;
    case "wait":
      fake.call("wait", { slot: slots[who]!, word: 0, expected: -12345, timeoutMs: 1 }, id++);
      break;
    case "wake":
      fake.call("wake", { slot: slots[who]!, word: 0, count: 1, reply: 1 }, id++);
      break;
  }
}
console.error("LOOP-START");
const started = performance.now();
if (only) {
  for (const op of only) {
    console.error(`MARK ${op}`);
    const cpu = process.cpuUsage();
    // alloc and open are paired with free so holdings stay level
    for (let n = 0; n < REQUESTS; n++)
      one(n, op === "alloc" || op === "open" ? (n % 2 ? "free" : op) : (op as (typeof mix)[number]));
    // CPU time, not elapsed: steadier on a machine other processes load
    const { user, system } = process.cpuUsage(cpu);
    console.log(`${op}: ${((user + system) / REQUESTS).toFixed(2)} µs of CPU per request`);
  }
  console.error("MARK end");
} else for (let n = 0; n < REQUESTS; n++) one(n, mix[Math.floor(Math.random() * mix.length)]!);
const elapsed = performance.now() - started;
console.log(
  `${REQUESTS} requests: ${((elapsed * 1000) / REQUESTS).toFixed(2)} µs each (${elapsed.toFixed(0)} ms)`,
);
/** The sweep's parts are private to the arbiter; reached here by name, for timing only. */
const parts = arbiter as unknown as {
  expireSilentClients(): void;
  compactor: { maybeStart(): void };
};
for (let round = 0; round < 5; round++) {
  const times = [performance.now()];
  parts.expireSilentClients();
  times.push(performance.now());
  runAtOnce(arbiter.waits.recheckInSteps((key) => arbiter.slots.loadAt(key)));
  times.push(performance.now());
  arbiter.guard.check(arbiter.state);
  times.push(performance.now());
  arbiter.transfers.sample();
  times.push(performance.now());
  parts.compactor.maybeStart();
  times.push(performance.now());
  const spans = times.slice(1).map((time, index) => (time - times[index]!).toFixed(3));
  console.log(`sweep (expire, recheck, guard, transfers, compactor) ms: ${spans.join(" ")}`);
}
await arbiter.stop();
rmSync(dir, { recursive: true, force: true });
process.exit(0);
