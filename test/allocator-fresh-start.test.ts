import { afterEach, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { prepareRegion } from "../src/host/setup.ts";
import { computeGeometry } from "../src/region/layout.ts";
import { expectFailure } from "./helpers/errors.ts";
import { beginRecord } from "./helpers/journal.ts";

const MiB = 2 ** 20;
const real = Object.getOwnPropertyDescriptor(process, "constrainedMemory");
const dirs: string[] = [];

afterEach(() => {
  if (real) Object.defineProperty(process, "constrainedMemory", real);
  else delete (process as { constrainedMemory?: unknown }).constrainedMemory;
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

// A state whose region file is gone (a reboot wiped /dev/shm) is not resumed: the region is made afresh and
// the state's allocations are dropped. The allocator check let such a start take up to all of the memory,
// as for a resume, so an arbiter was started with an allocator over half of it: what the check prevents.
test("a state whose region file is gone starts afresh: its allocator must fit half of the memory", () => {
  const dir = mkdtempSync(join(tmpdir(), "ivsh-alloc-fresh-"));
  dirs.push(dir);
  const options = {
    regionPath: join(dir, "region"),
    statePath: join(dir, "state"),
    regionSize: 256 * MiB,
    blockSize: 4096,
    slotCount: 16,
  };
  // 256 MiB in 4 KiB blocks: ~0.56 MiB of allocator, over half of 1 MiB and under all of it.
  const geometry = computeGeometry(options.regionSize, options.blockSize, options.slotCount);
  writeFileSync(
    options.statePath,
    `${JSON.stringify({ ...beginRecord(geometry), region: options.regionPath })}\n`,
  );
  Object.defineProperty(process, "constrainedMemory", { value: () => MiB, configurable: true });
  let prepared: ReturnType<typeof prepareRegion> | undefined;
  expectFailure(
    () => {
      prepared = prepareRegion(options);
    },
    "NoSpace",
    /over half of the 1\.00 MiB its cgroup lets the arbiter take \(.*\): pass --block-size 8KiB or more \(with a new --state\)/,
  );
  prepared?.region.close();
  expect(existsSync(options.regionPath)).toBe(false); // refused before anything was made
});
