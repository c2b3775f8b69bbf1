/**
 * The header's list of unrecorded session ends (bytes 64–2048, docs/layout.md section 2) is the arbiter's
 * alone, but any guest can write it. An entry there ends its session at the arbiter's next start, so one
 * that a guest forged for a live client would end that client's session at a restart: the arbiter must find
 * what it did not write, clear it, and say so.
 */
import { test } from "bun:test";
import { fetchStatus } from "../src/guest/inspect.ts";
import { Header } from "../src/region/layout.ts";
import { mapRegionFile } from "../src/region/mapping.ts";
import { clientConfig, eventually, livenessBoundMs, spawnFixture } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { expectResumedOnce } from "./helpers/survivor.ts";

const LEASE_MS = 3000;
const suite = sharedArbiter("forged-ends", { lease: `${LEASE_MS}ms` });
const TAG = 0x444e4555; // "UEND", as src/host/unrecorded-ends.ts checks an entry

/** Writes entry `entry` of the list as a guest with the region mapped could, in the arbiter's own format. */
function forgeEntry(entry: number, clientId: number, epoch: number): void {
  const region = mapRegionFile(suite.region);
  try {
    const words = new Int32Array(region.bytes(0, 4096).buffer);
    const at = (Header.unrecordedEnds >> 2) + 2 * entry;
    Atomics.store(words, at + 1, clientId ^ TAG ^ epoch);
    Atomics.store(words, at, clientId);
  } finally {
    region.close();
  }
}

test("an entry forged for a live client: cleared and reported, and the client resumes after a restart", async () => {
  const survivor = spawnFixture("survivor", clientConfig(suite.paths, { segment: "forged" }));
  const ready = await survivor.events.next("ready");
  const { report } = await fetchStatus({ unix: suite.socket });
  const repairsBefore = report.integrity.repairs;
  forgeEntry(7, ready.clientId as number, report.epoch);
  forgeEntry(8, 12345, 999); // garbage: words that disagree
  const reported = async () => {
    const { integrity } = (await fetchStatus({ unix: suite.socket })).report;
    return (
      integrity.repairs > repairsBefore && integrity.findings.some(({ what }) => /unrecorded/.test(what))
    );
  };
  await eventually(reported, livenessBoundMs(LEASE_MS), "the arbiter reporting the forged entries");
  await suite.arbiter.stop();
  await suite.arbiter.restart();
  await expectResumedOnce(survivor, ready);
}, 60_000);
