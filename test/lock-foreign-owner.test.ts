/**
 * A lock word overwritten with the id of a live client that never opened that lock (a guest's scribble: an
 * id is a small number, so a live one is easy to hit). That client will never unlock it, so every waiter
 * would wait for ever (or to its timeout): the arbiter, which knows who opened what, must release it as
 * owner-died and say so, as it does for an id of no client at all.
 */
import { expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { computeGeometry, SlotWord, slotWordIndex } from "../src/region/layout.ts";
import { mapRegionFile } from "../src/region/mapping.ts";
import { clientConfig, type Spawned, spawnFixture } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("foreign-owner", { lease: "3s" });

test("a lock word naming a live client that never opened the lock: released as owner-died, and reported", async () => {
  const bystander = spawnFixture("holder", clientConfig(suite.paths, { segment: "b", mutex: "other" }));
  try {
    await takeOverForeignLock(bystander);
  } finally {
    bystander.proc.kill(); // a holder waits until killed
    await bystander.exit();
  }
}, 60_000);

async function takeOverForeignLock(bystander: Spawned): Promise<void> {
  const { clientId: bystanderId } = await bystander.events.next("holding");
  const client = await connect({ socket: suite.socket, region: suite.region, name: "opener" });
  const victim = await client.mutex("victim");
  const { report } = await fetchStatus({ unix: suite.socket });
  const slot = report.sync.find((object) => object.name === "victim")!.slot;
  const geometry = computeGeometry(report.region.size, report.region.blockSize, report.region.slotCount);
  const region = mapRegionFile(suite.region);
  const words = new Int32Array(region.bytes(0, geometry.dataOffset).buffer);
  Atomics.store(words, slotWordIndex(geometry, slot, SlotWord.lock), bystanderId as number);
  region.close();
  const taker = spawnFixture("taker", clientConfig(suite.paths, { mutex: "victim" }));
  const locked = await taker.events.next("locked", 30_000);
  expect(locked).toMatchObject({ ok: true, outcome: "owner-died" });
  const { integrity } = (await fetchStatus({ unix: suite.socket })).report;
  expect(integrity.findings.map(({ what }) => what).join("\n")).toMatch(
    new RegExp(`'victim'.*named client ${bystanderId}, which has not opened it`),
  );
  expect(await taker.exit()).toBe(0);
  await victim.close();
  await client.close();
}
