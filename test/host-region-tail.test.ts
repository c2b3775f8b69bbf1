/**
 * A block size near the region's size leaves much of the region in no block (its tail, docs/layout.md
 * section 1), which nothing uses: `ivsh host` warns, naming the bytes lost and a block size that loses
 * little. A tail is always under a block, so a small share of the region (the defaults' 60 KiB of 256 MiB)
 * is not worth a word.
 */
import { afterAll, expect, test } from "bun:test";
import { startLines } from "./helpers/host-run.ts";
import { testPaths } from "./helpers/paths.ts";

const own = testPaths("region-tail");
afterAll(() => own.cleanup());

/** What `ivsh host --size SIZE --block-size BLOCK` warns about the region's unused tail, on a fresh region. */
async function tailWarning(size: string, block: string): Promise<string | undefined> {
  const region = `${own.shmDir}/region-${size}-${block}`;
  const args = ["--region", region, "--socket", own.socket, "--state", `${region}.state`];
  const said = await startLines([...args, "--size", size, "--block-size", block], own.dir);
  return said.split("\n").find((line) => line.includes("unused: after the header"));
}

test("--size 1.5MiB --block-size 1MiB: the 444 KiB no block covers is warned about, with a block size that leaves little", async () => {
  const warned = await tailWarning("1.5MiB", "1MiB");
  expect(warned).toContain(
    "WARN --block-size 1MiB leaves 444.0 KiB of the 1.50 MiB region (29%) unused: after the header and 1024 slots " +
      "(68.0 KiB) it has room for 1 whole block, and no block covers the rest " +
      "(--block-size 128KiB leaves 60.0 KiB unused, with 11 blocks)",
  );
  // The block size it offers is not warned about.
  expect(await tailWarning("1.5MiB", "128KiB")).toBeUndefined();
}, 60_000);

test("a --size that is a multiple of the block size still loses most of a block to the header: warned too", async () => {
  const warned = await tailWarning("2MiB", "1MiB");
  expect(warned).toContain("--block-size 1MiB leaves 956.0 KiB of the 2.00 MiB region (47%) unused");
}, 60_000);

test("the default block size in a small region, or a large one: no warning", async () => {
  expect(await tailWarning("1MiB", "64KiB")).toBeUndefined();
  expect(await tailWarning("16MiB", "64KiB")).toBeUndefined();
}, 60_000);
