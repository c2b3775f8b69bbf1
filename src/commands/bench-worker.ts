/**
 * `ivsh bench-worker ROLE --flag value ...` (hidden): one end of a benchmark, started by `ivsh bench` as a
 * separate process (and inside VMs with --vm), so every transfer and hand-off crosses a process boundary
 * like a real one. Each role reads its own flags and reports as every worker does: JSON lines on stdout
 * for its parent (src/bench/worker-io.ts).
 */
import { defineCommand } from "citty";
import { runAccessWorker } from "../bench/access-bench.ts";
import { runChannelReceiver, runChannelSender } from "../bench/channel.ts";
import { runCondvarLoop, runCondvarPair } from "../bench/condvar-worker.ts";
import { runEchoLoad, runEchoServer, runScaleLoad } from "../bench/scale-worker.ts";
import { runStreamReceiver, runStreamSender } from "../bench/stream.ts";
import {
  runEcho,
  runHandoffWaiter,
  runHandoffWaker,
  runLocks,
  runPing,
  runRelay,
} from "../bench/sync-worker.ts";
import { runRpcRoundTrips } from "../bench/vm.ts";
import { WorkerFlags } from "../bench/worker-io.ts";
import { failure } from "../errors.ts";

const ROLES: Record<string, (flags: WorkerFlags) => Promise<void>> = {
  "stream-send": runStreamSender,
  "stream-recv": runStreamReceiver,
  "ivsh-send": runChannelSender,
  "ivsh-recv": runChannelReceiver,
  "handoff-wait": runHandoffWaiter,
  "handoff-wake": runHandoffWaker,
  locks: runLocks,
  echo: runEcho,
  ping: runPing,
  relay: runRelay,
  access: runAccessWorker,
  "cv-loop": runCondvarLoop,
  "cv-pair": runCondvarPair,
  "rpc-rtt": runRpcRoundTrips,
  "scale-load": runScaleLoad,
  "echo-server": runEchoServer,
  "echo-load": runEchoLoad,
};

/** Runs the worker `argv` names (its role, then its flags); resolves when the worker's work is done. */
export async function runBenchWorker(argv: string[]): Promise<void> {
  const [role = "", ...rest] = argv;
  const run = ROLES[role];
  const roles = Object.keys(ROLES).join(", ");
  if (!run) throw failure("InvalidArgument", "start a bench worker", `'${role}' is not one of ${roles}`);
  await run(new WorkerFlags(role, rest));
}

/**
 * Only the role is declared: each role reads and checks its own `--flag value` pairs (WorkerFlags in
 * src/bench/worker-io.ts), so the flags are listed once, where they are used, not again here. Not a
 * strict leaf command for the same reason: the role, not this table, knows which flags it takes.
 */
export default defineCommand({
  meta: { name: "bench-worker", description: "One end of an `ivsh bench` measurement", hidden: true },
  args: {
    role: {
      type: "positional",
      description: `What to run: ${Object.keys(ROLES).join(", ")}`,
      required: true,
    },
  },
  async run({ rawArgs }) {
    exitWhenOrphaned();
    try {
      await runBenchWorker(rawArgs);
    } catch (error) {
      // Reported by the CLI like any command's error, then ended: a worker that failed before its start
      // signal came would go on waiting for it (that wait holds the event loop open).
      setTimeout(() => process.exit(), 100);
      throw error;
    }
    // Client.close() leaves its 1 s bye timeout pending, which would keep every worker alive for a second
    // after its work is done and reported (synchronously). The parent waits for the exit, so end now,
    // with the code the CLI set if a bug was thrown outside this await meanwhile (../cli.ts): not 0.
    process.exit();
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
