/**
 * `rpc-rtt --rounds N`: a client's request round trips to the arbiter, each a `status` request (the
 * largest routine reply), timed one after another on this process's clock. In a guest this is the path a
 * guest's every request takes: its TCP, QEMU's user-mode network, then either the arbiter directly (the
 * bridge handed the connection over) or a relaying bridge process.
 */
import { withWorkerClient } from "./worker-client.ts";
import { emit, localNanoseconds, type WorkerFlags } from "./worker-io.ts";

const WARM_UP_ROUNDS = 20;

export async function runRpcRoundTrips(flags: WorkerFlags): Promise<void> {
  await withWorkerClient(flags, "bench rpc-rtt", async (client) => {
    const rounds = flags.count("rounds");
    for (let round = 0; round < WARM_UP_ROUNDS; round++) await client.status();
    const latencies: number[] = [];
    for (let round = 0; round < rounds; round++) {
      const started = localNanoseconds();
      await client.status();
      latencies.push(Math.round(localNanoseconds() - started));
    }
    emit({ event: "rpc", vm: client.vm, latencies });
  });
}
