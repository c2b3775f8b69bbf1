/**
 * `ivsh bench-worker ROLE --flag value ...` (hidden): one end of a benchmark, started by `ivsh bench` as a
 * separate process (and inside VMs with --vm). It prints JSON lines on stdout for its parent.
 */
import type { ArgDef } from "citty";
import { runBenchWorker, WORKER_ROLES } from "../bench/worker.ts";
import { defineLeafCommand } from "./_strict.ts";

const text = (description: string) => ({ type: "string", description }) as const;

const workerArgs = {
  role: { type: "positional", description: `What to run: ${WORKER_ROLES.join(", ")}`, required: true },
  transport: text("Stream baselines: unix or tcp"),
  address: text("Stream baselines and ping/echo/relay: socket path, or host:port for tcp"),
  to: text("relay: the socket to forward to"),
  bytes: text("Bytes to transfer (or to measure, for access)"),
  chunk: text("Bytes per write (streams) or per ring chunk (ivsh)"),
  depth: text("ivsh-send: chunks in the ring"),
  channel: text("ivsh-send/recv: channel name"),
  socket: text("Arbiter's Unix socket (host workers; a guest finds its bridge)"),
  region: text("Region file (host workers; a guest maps its IVSHMEM device)"),
  resource: text("In a guest: resource2 or resource2_wc"),
  name: text("handoff, locks, cv-loop, cv-pair: name of the slot both sides use"),
  mode: text("handoff: parked or spin; cv-loop: ivsh, rpc or socket"),
  rounds: text("handoff and ping: hand-offs to time; rpc-rtt: status requests to time"),
  pairs: text("locks: acquire/release pairs per method"),
  round: text("locks: which method goes first (rotates between repeats)"),
  repeats: text("access: timed samples"),
  steps: text("access: dependent loads per latency sample"),
  memory: text("access: 'anonymous' to measure anonymous memory instead of the region"),
  side: text("cv-loop: writer or reader; cv-pair: a or b"),
  area: text("cv-loop: bytes of the shared area, its flag byte included"),
  wakes: text("cv-pair: parked wake-ups to time"),
  worker: text("scale-load: this worker's index among --workers"),
  workers: text("scale-load: how many workers load the arbiter"),
  clients: text("scale-load: clients this worker connects"),
  "per-client": text("scale-load: named one-block segments each client allocates"),
  "peer-clients": text("scale-load: clients of each load worker (whose segments it opens)"),
  "peer-per-client": text("scale-load: named segments of each load worker's client"),
  seconds: text("scale-load: how long the request mix runs"),
  rate: text("scale-load: requests per second this worker issues"),
  across: text("cv-loop, cv-pair: 'vm' when one side runs in a guest (the socket is then its network)"),
} as const satisfies Record<string, ArgDef>;

export default defineLeafCommand({
  meta: { name: "bench-worker", description: "One end of an `ivsh bench` measurement", hidden: true },
  args: workerArgs,
  async run({ rawArgs }) {
    exitWhenOrphaned();
    await runBenchWorker(rawArgs);
    // Client.close() leaves its 1 s bye timeout pending, which would keep every worker alive for a second
    // after its work is done and reported (synchronously). The parent waits for the exit, so end now.
    process.exit(0);
  },
});

/**
 * A benchmark killed with SIGKILL cannot end its workers, and a worker waiting for a peer that will never
 * come would wait forever: when the parent is gone (we were re-parented), give up.
 */
function exitWhenOrphaned(): void {
  const parent = process.ppid;
  setInterval(() => {
    if (process.ppid !== parent) process.exit(1);
  }, 500).unref();
}
