/**
 * What single arbiter operations cost at the scale of `ivsh bench --scale` (100 000 segments, 1 000
 * sessions), measured in-process: the snapshot a compaction writes, had it stayed in the arbiter (JSON and
 * fsync, as src/host/state-file.ts writes it); the longest stall of a 100 000-entry Map under inserts and
 * deletes, whole and split as src/host/compact-map.ts splits it; and zeroing 1 GiB of a tmpfs region by
 * writing, by punching, and as MappedRegion.zero does, over pages in memory and over holes. Figures
 * quoted in docs/bench/scale.md, docs/protocol.md and the files named.
 *
 *   bun scripts/experiments/arbiter-stalls.ts
 */
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { discardPages } from "../../src/ffi/index.ts";
import { ArbiterState } from "../../src/host/state.ts";
import { StateFile } from "../../src/host/state-file.ts";
import { computeGeometry } from "../../src/region/layout.ts";
import { createOrOpenRegionFile } from "../../src/region/mapping.ts";

const dir = mkdtempSync("/dev/shm/ivsh-stalls-");
const diskDir = mkdtempSync("/var/tmp/ivsh-stalls-");
try {
  const geometry = computeGeometry(1024 ** 3, 4096, 1024);
  const noSlots = { initialise() {}, clear() {}, releaseDeadOwner: () => false };
  const state = new ArbiterState(geometry, { clientQuotaBlocks: 0, vmQuotaBlocks: 0 }, noSlots);
  state.commit({ t: "begin", format: 1, region: "r", geometry, epoch: 1, nextClientId: 1, nextSegmentId: 1 });
  const sessions = Array.from({ length: 1000 }, (_, index) => state.openSession(`c${index}`, index, "host"));
  for (let index = 0; index < 100_000; index++)
    state.allocate(sessions[index % 1000]!, 4096, 0, "write", `s${index}`);
  for (const [label, where] of [
    ["/var/tmp (disk)", diskDir],
    ["/dev/shm", dir],
  ] as const) {
    const started = performance.now();
    const snapshot = state.snapshot("r");
    StateFile.create(join(where, "state"), snapshot).close();
    console.log(
      `snapshot of ${snapshot.length} records to ${label}: ${(performance.now() - started).toFixed(0)} ms`,
    );
  }
  for (const shards of [1, 256])
    console.log(`Map of 100 000 entries in ${shards} part(s): ${mapStall(shards)}`);
  const gib = 1024 ** 3;
  for (const pages of ["in memory", "holes"] as const)
    for (const method of ["writing", "punching", "MappedRegion.zero"] as const) {
      const path = join(dir, "region");
      const { region } = createOrOpenRegionFile(path, gib + 1024 ** 2);
      const view = region.bytes(0, gib);
      if (pages === "in memory") for (let at = 0; at < gib; at += 4096) view[at] = 1;
      const started = performance.now();
      if (method === "writing") view.fill(0);
      else if (method === "punching") discardPages(region.address(0), gib);
      else region.zero(0, gib);
      console.log(`zeroing 1 GiB of ${pages} by ${method}: ${(performance.now() - started).toFixed(1)} ms`);
      region.close();
      rmSync(path);
    }
} finally {
  rmSync(dir, { recursive: true, force: true });
  rmSync(diskDir, { recursive: true, force: true });
}

/** The longest pause among 2 000 000 insert + delete pairs on 100 000 live entries split `shards` ways. */
function mapStall(shards: number): string {
  const parts = Array.from({ length: shards }, () => new Map<number, object>());
  for (let key = 0; key < 100_000; key++) parts[key % shards]!.set(key, { key });
  let worst = 0;
  let last = performance.now();
  for (let key = 100_000; key < 2_100_000; key++) {
    const part = parts[key % shards]!;
    part.set(key, { key });
    part.delete(key);
    const now = performance.now();
    worst = Math.max(worst, now - last);
    last = now;
  }
  return `longest pause ${worst.toFixed(1)} ms`;
}
