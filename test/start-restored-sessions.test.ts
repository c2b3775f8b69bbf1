/**
 * The header's list of unrecorded session ends at a start (src/host/start.ts): the sessions it lists are
 * ended and said so, only those the journal holds (an id it does not, another epoch's scribble or a guest's
 * forgery, is no session to end or to name), and the list is emptied once the start has recorded them:
 * left, the guard took its entries, now another epoch's, for an overwrite at every check. A real arbiter
 * stopped and started again on one region, whose header page the test writes in between.
 */
import { afterAll, expect, test } from "bun:test";
import { closeSync, openSync, readSync, writeSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
import { listUnrecordedEnd, UNRECORDED_ENDS_MAX } from "../src/host/unrecorded-ends.ts";
import { readEpoch } from "../src/region/header.ts";
import { Header, PAGE_SIZE } from "../src/region/layout.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, livenessBoundMs } from "./helpers/processes.ts";

const paths = testPaths("start-unrecorded");
afterAll(() => paths.cleanup());

/** Reads the region file's header page, lets `change` edit it, writes it back. */
function editHeader(region: string, change: (header: Int32Array) => void = () => {}): Int32Array {
  const header = new Int32Array(PAGE_SIZE / 4);
  const fd = openSync(region, "r+");
  try {
    readSync(fd, new Uint8Array(header.buffer), 0, PAGE_SIZE, 0);
    change(header);
    writeSync(fd, new Uint8Array(header.buffer), 0, PAGE_SIZE, 0);
  } finally {
    closeSync(fd);
  }
  return header;
}

test("a start ends the listed sessions the journal holds, names only those, and empties the list", async () => {
  const arbiter = await ArbiterProcess.start(paths);
  const client = await connect({ socket: paths.socket, region: paths.region, name: "listed" });
  const listedId = client.clientId;
  const unknownId = listedId + 1000;
  await arbiter.stop(); // its sessions stay in the journal
  await client.close();
  editHeader(paths.region, (header) => {
    const epoch = readEpoch(header);
    expect(listUnrecordedEnd(header, epoch, listedId)).toBe(true);
    expect(listUnrecordedEnd(header, epoch, unknownId)).toBe(true);
  });
  await arbiter.restart();
  const watcher = await connect({ socket: paths.socket, region: paths.region, name: "watcher" });
  expect((await watcher.status(10, listedId)).clients).toEqual([]);
  await watcher.close();
  const header = editHeader(paths.region);
  const first = Header.unrecordedEnds >> 2;
  expect([...header.subarray(first, first + 2 * UNRECORDED_ENDS_MAX)].filter((word) => word !== 0)).toEqual(
    [],
  );
  await arbiter.stop();
  const stderr = await arbiter.spawned.stderr; // the restarted arbiter's
  expect(stderr).toContain(`ended the session of client #${listedId}: it had ended before the last stop`);
  expect(stderr).not.toContain(`#${unknownId}`);
}, 60_000);

// A session restored from the journal whose client never comes back: given one lease from the start, it
// expires and lets go of what it held. Without it, it was never swept: held for as long as the arbiter ran.
test("a restored session whose client never comes back expires one lease after the start", async () => {
  const own = testPaths("start-restored-expiry");
  const arbiter = await ArbiterProcess.start(own, { lease: "1s" });
  try {
    const gone = await connect({ socket: own.socket, region: own.region, name: "never-back" });
    const goneId = gone.clientId;
    await arbiter.stop();
    await gone.close(); // with no arbiter to tell: its session stays in the journal
    await arbiter.restart();
    const watcher = await connect({ socket: own.socket, region: own.region, name: "watcher" });
    try {
      expect((await watcher.status(10, goneId)).clients.map((client) => client.clientId)).toEqual([goneId]);
      await eventually(
        async () => (await watcher.status(10, goneId)).clients.length === 0,
        livenessBoundMs(1000),
        "the restored session's expiry",
      );
    } finally {
      await watcher.close();
    }
  } finally {
    await arbiter.stop();
    own.cleanup();
  }
}, 60_000);
