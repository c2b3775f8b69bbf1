/**
 * A rogue client: IVSHMEM gives no isolation, so it maps the region file itself (no grant, no mprotect)
 * and writes random bytes over the header, the slot table and the ring of a transfer in progress.
 * Config (JSON, argv[2]): region, socket, channel, seed, count, spanMs, depth (of the ring). Prints one JSON line per write:
 * {"event":"scribble", area, offset, length, changed}.
 */
import { fetchStatus } from "../../src/guest/inspect.ts";
import {
  computeGeometry,
  HEADER_FIELD_BYTES,
  Header,
  PAGE_SIZE,
  RECORD_BYTES,
  SLOT_BYTES,
  SLOT_WORDS,
  SlotWord,
} from "../../src/region/layout.ts";
import { mapRegionFile } from "../../src/region/mapping.ts";
import { Prng } from "../helpers/prng.ts";

const config = JSON.parse(process.argv[2] ?? "{}") as {
  region: string;
  socket: string;
  channel: string;
  seed: number;
  count: number;
  spanMs: number;
  depth: number;
};
const random = new Prng(config.seed);

interface Area {
  name: string;
  start: number;
  length: number;
}

/** Finds the channel's slot and its ring once the transfer has started. */
async function findTargets(deadlineMs: number): Promise<Area[]> {
  for (;;) {
    const { report } = await fetchStatus({ unix: config.socket });
    const { region } = report;
    const geometry = computeGeometry(region.size, region.blockSize, region.slotCount);
    const slot = report.sync.find((object) => object.name === `channel:${config.channel}`);
    const ring = report.segments.find((segment) => segment.name.startsWith(`channel:${config.channel}:`));
    if ((slot && ring) || performance.now() > deadlineMs) {
      const areas: Area[] = [
        // The arbiter guards the header's fields; the rest of the page (up to the probe area) is unused but
        // for its list of unrecorded session ends, which it checks entry by entry.
        { name: "header", start: 0, length: HEADER_FIELD_BYTES },
        { name: "header-unused", start: HEADER_FIELD_BYTES, length: Header.probeArea - HEADER_FIELD_BYTES },
        { name: "slot-table", start: geometry.slotOffset, length: geometry.slotCount * SLOT_BYTES },
      ];
      if (slot) {
        const at = geometry.slotOffset + slot.slot * SLOT_BYTES;
        areas.push({ name: "channel-slot", start: at, length: SLOT_BYTES });
        areas.push({
          name: "slot-identity",
          start: at + SlotWord.kind * 4,
          length: (SLOT_WORDS - SlotWord.kind) * 4,
        });
      }
      if (ring) {
        const at = geometry.dataOffset + ring.firstBlock * geometry.blockSize;
        areas.push({ name: "ring-records", start: at, length: config.depth * RECORD_BYTES });
        areas.push({ name: "ring-data", start: at + PAGE_SIZE, length: Math.max(1, ring.bytes - PAGE_SIZE) });
      }
      return areas;
    }
    await Bun.sleep(20);
  }
}

function scribble(memory: Uint8Array, area: Area): void {
  const length = Math.min(area.length, random.range(1, 8));
  const offset = area.start + random.int(area.length - length + 1);
  const before = memory.slice(offset, offset + length);
  memory.set(random.bytes(length), offset);
  const changed = before.some((byte, index) => byte !== memory[offset + index]);
  console.log(JSON.stringify({ event: "scribble", area: area.name, offset, length, changed }));
}

// The moments count from when the ring exists: the scribbles land while the transfer runs.
const areas = await findTargets(performance.now() + config.spanMs);
const started = performance.now();
// Our own MAP_SHARED mapping of the whole file (Bun.mmap's writes do not reach other processes).
const region = mapRegionFile(config.region);
const memory = region.bytes(0, region.size);
const moments = Array.from({ length: config.count }, () => random.int(config.spanMs)).sort((a, b) => a - b);
for (const moment of moments) {
  await Bun.sleep(Math.max(0, started + moment - performance.now()));
  scribble(memory, random.pick(areas));
}
