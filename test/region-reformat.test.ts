/**
 * A region an arbiter formatted before, started with a state that records none of it: it is formatted
 * again, and its slot table is cleared with it. Slot words left over (a lock word naming a client of the
 * old arbiter, an object's kind) would be read by this arbiter's clients as theirs.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { Header } from "../src/region/layout.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("region-reformat");
});
afterAll(() => paths?.cleanup());

/** The region file's slot table: its bytes, and where it starts in the file. */
function slotTable(region: string): { bytes: Uint8Array; offset: number } {
  const file = readFileSync(region);
  const view = new DataView(file.buffer, file.byteOffset, file.byteLength);
  const offset = view.getUint32(Header.slotOffset, true);
  const count = view.getUint32(Header.slotCount, true);
  return { bytes: file.subarray(offset, offset + count * 64), offset };
}

test("re-formatting a region without its state clears the slot table", async () => {
  const first = await ArbiterProcess.start(
    { ...paths, state: join(paths.dir, "first.state") },
    { size: "1MiB" },
  );
  await first.stop();
  const { bytes, offset } = slotTable(paths.region);
  const fd = openSync(paths.region, "r+");
  writeSync(fd, Buffer.alloc(bytes.byteLength, 0x5a), 0, bytes.byteLength, offset); // what the old one left
  closeSync(fd);
  const second = await ArbiterProcess.start(
    { ...paths, state: join(paths.dir, "second.state") },
    { size: "1MiB" },
  );
  try {
    expect(slotTable(paths.region).bytes.every((byte) => byte === 0)).toBe(true);
  } finally {
    await second.stop();
  }
});
