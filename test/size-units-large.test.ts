/**
 * Sizes in PiB and EiB: refused as too large (or by the region's layout), not as "not a size", while the
 * too-large refusal named 8 PiB, a size one could then not write.
 */
import { expect, test } from "bun:test";
import { parseSize } from "../src/units.ts";
import { CLI } from "./helpers/paths.ts";
import { spawnBun } from "./helpers/processes.ts";

test("PiB and EiB are units: a size in them parses, or is refused as too large, naming the largest", () => {
  expect(parseSize("1PiB", "--size")).toBe(2 ** 50);
  expect(parseSize("1PB", "--size")).toBe(1e15);
  expect(parseSize("7p", "--size")).toBe(7 * 2 ** 50);
  for (const text of ["8PiB", "1EiB", "16EB"])
    expect(() => parseSize(text, "--size")).toThrow(
      `Failed to parse --size '${text}' since it is larger than any size ivsh can use (under 8 PiB: at most 2^53 - 1 bytes)`,
    );
});

test("ivsh host --size 1PiB is refused for what it is (too many blocks), not as 'not a size'", async () => {
  const host = spawnBun([
    CLI,
    "host",
    "--size",
    "1PiB",
    "--region",
    "/dev/shm/lo6-never",
    "--socket",
    "/tmp/lo6-never.sock",
  ]);
  expect(await host.exit()).toBe(2);
  const said = await host.stderr;
  expect(said).not.toContain("not a size");
  expect(said).toContain("more than 2147483647 blocks");
});
