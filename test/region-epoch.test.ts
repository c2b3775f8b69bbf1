/**
 * A region whose header matches its arbiter in every field but the epoch (the word a restart bumps) is not
 * the region that arbiter serves now: checkGeometry (src/guest/connect-options.ts) refuses it, on fixed
 * inputs, instead of taking a stale or overwritten epoch for the current one.
 */
import { expect, test } from "bun:test";
import { checkGeometry } from "../src/guest/served-geometry.ts";
import type { Reply } from "../src/protocol/messages.ts";
import type { MappedRegion } from "../src/region/mapping.ts";
import { expectFailure } from "./helpers/errors.ts";
import { SCRIPTED_GEOMETRY, SCRIPTED_INSTANCE } from "./helpers/scripted-region.ts";

const geometry = SCRIPTED_GEOMETRY;
const INSTANCE = SCRIPTED_INSTANCE;

function region(epoch: number): MappedRegion {
  const header = { ...geometry, epoch, arbiterInstance: INSTANCE, arbiterPid: 4321 };
  return {
    readHeader: () => header,
    // Says no client greeted (an arbiter older than that word): nothing here is about a copy.
    headerWords: () => new Int32Array(1024),
    size: geometry.regionSize,
    source: "/dev/shm/scripted",
  } as unknown as MappedRegion;
}

const hello = {
  ...geometry,
  epoch: 3,
  arbiterInstance: INSTANCE,
  arbiterPid: 4321,
} as unknown as Reply<"hello">;
const endpoint = { unix: "/run/ivsh/scripted.sock" };

test("the header's epoch matches the arbiter's: the geometry it announced is taken", () => {
  expect(checkGeometry(region(3), hello, endpoint)).toEqual(geometry);
});

test("every field but the epoch matches: RegionInvalid naming both epochs", () => {
  expectFailure(
    () => checkGeometry(region(2), hello, endpoint),
    "RegionInvalid",
    // Found by a trial: sizes in bytes, and no word of where to find the region the arbiter serves.
    /the region's header \(4\.00 MiB, epoch 2\) is not the region that arbiter serves \(4\.00 MiB, epoch 3\); pass the matching --region \(`ivsh status` names it; connect\(\{ region \}\)\)$/,
  );
});
