/**
 * A region with no room: the waits for room of a sender's ring (src/transfer/room-wait.ts) begin only when
 * another client holds every block. Arbiters for these tests are started with `--size 4MiB`: 63 data
 * blocks of 64 KiB.
 */
import { expect } from "bun:test";
import type { TestPaths } from "./paths.ts";
import { clientConfig, type Spawned, spawnFixture } from "./processes.ts";

/** The `--size` whose every block `holdEveryBlock` takes. */
export const FULL_REGION_SIZE = "4MiB";

/** Another client (a real process) holding every block of the region, until it is killed. */
export async function holdEveryBlock(paths: TestPaths): Promise<Spawned> {
  const holder = spawnFixture(
    "holder",
    clientConfig(paths, { segment: "all", mutex: "all", bytes: 63 << 16 }),
  );
  expect((await holder.events.next("holding")).blocks).toBe(63);
  return holder;
}
