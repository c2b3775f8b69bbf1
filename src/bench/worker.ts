/**
 * The benchmark's worker processes, `ivsh bench-worker ROLE --flag value ...`: separate processes so
 * every transfer and hand-off crosses a process boundary like a real one. Each role reads its own flags
 * and reports as every worker does (worker-io.ts).
 */
import { failure } from "../errors.ts";
import { runAccessWorker } from "./access-bench.ts";
import { runChannelReceiver, runChannelSender } from "./channel.ts";
import { runCondvarPair } from "./condvar-pair.ts";
import { runCondvarLoop } from "./condvar-worker.ts";
import { runEchoLoad, runEchoServer } from "./scale-echo.ts";
import { runScaleLoad } from "./scale-worker.ts";
import { runStreamReceiver, runStreamSender } from "./stream-worker.ts";
import { runEcho, runHandoffWaiter, runHandoffWaker, runLocks, runPing, runRelay } from "./sync-worker.ts";
import { runRpcRoundTrips } from "./vm.ts";
import { WorkerFlags } from "./worker-io.ts";

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

export const WORKER_ROLES = Object.keys(ROLES);

/** Entry point for the hidden `bench-worker` subcommand; resolves when the worker's work is done. */
export async function runBenchWorker(argv: string[]): Promise<void> {
  const [role = "", ...rest] = argv;
  const run = ROLES[role];
  const roles = WORKER_ROLES.join(", ");
  if (!run) throw failure("InvalidArgument", "start a bench worker", `'${role}' is not one of ${roles}`);
  await run(new WorkerFlags(role, rest));
}
