/**
 * `ivsh bench-worker ROLE --flag value ...` (hidden): one end of a benchmark, started by `ivsh bench` as a
 * separate process (and inside VMs with --vm). It prints JSON lines on stdout for its parent.
 */
import { defineCommand } from "citty";
import { runBenchWorker, WORKER_ROLES } from "../bench/worker.ts";

/**
 * Only the role is declared: each role reads and checks its own `--flag value` pairs (WorkerFlags in
 * src/bench/worker-io.ts), so the flags are listed once, where they are used, not again here. Not a
 * strict leaf command for the same reason: the role, not this table, knows which flags it takes.
 */
export default defineCommand({
  meta: { name: "bench-worker", description: "One end of an `ivsh bench` measurement", hidden: true },
  args: {
    role: { type: "positional", description: `What to run: ${WORKER_ROLES.join(", ")}`, required: true },
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
