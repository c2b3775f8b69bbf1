/** State journals for tests of the journal itself: the begin record every journal starts with. */
import { STATE_FORMAT, type StateRecord } from "../../src/host/records.ts";
import { computeGeometry } from "../../src/region/layout.ts";

/** A small region's geometry: 1 MiB in 4 KiB blocks, 16 slots. */
export const SMALL_GEOMETRY = computeGeometry(1 << 20, 4096, 16);

/** The first record of a fresh journal for region "r" at epoch 1, nothing allocated yet. */
export function beginRecord(geometry = SMALL_GEOMETRY): Extract<StateRecord, { t: "begin" }> {
  return {
    t: "begin",
    format: STATE_FORMAT,
    region: "r",
    geometry,
    epoch: 1,
    nextClientId: 1,
    nextSegmentId: 1,
  };
}
