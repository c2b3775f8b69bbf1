/**
 * Several transfers at once on the one arbiter, each on its own channel with faults of its own processes,
 * their rings (chosen shapes, which do not shrink) together able to need more than what another client
 * leaves of the region: a sender then finds room that other transfers hold, and waits for it
 * (src/transfer/room-wait.ts) instead of failing. Each transfer is judged as a transfer scenario alone is.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_ROOM_WAIT_MS } from "../../src/transfer/room-wait.ts";
import { Prng } from "../helpers/prng.ts";
import { clientConfig, spawnFixture } from "../helpers/processes.ts";
import type { ScenarioResult, SoakContext } from "./scenario.ts";
import { transferScenario } from "./transfer-scenario.ts";

const MiB = 1 << 20;
/**
 * Held by another client through the crowd: of the soak's 256 MiB region about 96 MiB stay free, which
 * the largest ring (16 × 4 MiB) fits alone, and two of them do not.
 */
const HELD_BYTES = 160 * MiB;

export async function crowdScenario(context: SoakContext): Promise<ScenarioResult> {
  const { random } = context;
  const count = random.range(3, 6);
  const name = `crowd-held-${random.next().toString(16)}`;
  const holder = spawnFixture(
    "holder",
    clientConfig(context.paths, { segment: name, mutex: name, bytes: HELD_BYTES }),
  );
  await holder.events.next("holding");
  const runs = Array.from({ length: count }, (_, index) => {
    const dir = join(context.dir, `transfer-${index}`);
    mkdirSync(dir);
    // Up to 16 chunks of 4 MiB: six such rings are 384 MiB, the soak's region 256 MiB.
    const part = {
      chunk: random.pick([MiB, 4 * MiB]),
      depth: random.range(8, 16),
      maxBytes: 64 * MiB,
      waitMs: DEFAULT_ROOM_WAIT_MS,
    };
    return transferScenario({ ...context, dir, random: new Prng(random.next(), index) }, part);
  });
  const results = await Promise.all(runs).finally(async () => {
    holder.proc.kill("SIGKILL");
    await holder.exit();
  });
  return {
    kind: "crowd",
    description: `${count} transfers at once: ${results.map((result, index) => `[${index}] ${result.description}`).join("; ")}`,
    faults: results.flatMap((result) => result.faults),
    violations: results.flatMap((result, index) =>
      result.violations.map((what) => `transfer ${index}: ${what}`),
    ),
    tallies: { waitedForRoom: results.filter((result) => result.tallies?.waitedForRoom).length },
  };
}
