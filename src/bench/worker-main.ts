/**
 * Development entry for the stream workers, until `ivsh bench-worker` exists in the CLI:
 * `bun src/bench/worker-main.ts stream-recv --transport unix --address /tmp/s --bytes 64MiB --chunk 1MiB`.
 * Being an entry point, it is where a worker's failure is printed.
 */
import { runBenchWorker } from "./worker.ts";

try {
  await runBenchWorker(process.argv.slice(2));
} catch (error) {
  process.stderr.write(`${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
}
