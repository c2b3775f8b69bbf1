/**
 * The block allocator's bounds and orders that the broader tests in allocator.test.ts pass either way:
 * an allocator of exactly half the memory, a freed run's order at the head of the free list, a run of no
 * blocks, and a cgroup "limit" that is the host's whole memory.
 */
import { expect, test } from "bun:test";
import { totalmem } from "node:os";
import { BlockAllocator, checkAllocatorFits } from "../src/host/allocator.ts";
import { computeGeometry } from "../src/region/layout.ts";
import { expectFailure } from "./helpers/errors.ts";

test("an allocator of exactly half the memory fits; one byte less of memory does not", () => {
  const geometry = computeGeometry(2 ** 30, 4096, 1024);
  const needed = geometry.blockCount * 9;
  checkAllocatorFits(geometry, 2 * needed);
  expectFailure(() => checkAllocatorFits(geometry, 2 * needed - 2), "NoSpace", /over half of this host's/);
  // Resumed from a state, the whole memory is the bound, exactly reached.
  checkAllocatorFits(geometry, needed, "/tmp/mut8-state");
});

test("a freed run sits at the head in ascending order: the next single-block allocs walk it forwards", () => {
  const allocator = new BlockAllocator(8);
  allocator.claim({ firstBlock: 0, blockCount: 8 });
  allocator.release({ firstBlock: 2, blockCount: 3 });
  const next = [0, 1, 2].map(() => {
    const run = allocator.choose(1);
    allocator.claim(run);
    return run.firstBlock;
  });
  expect(next).toEqual([2, 3, 4]);
});

test("a run of no blocks is not a block run: claim and release refuse it", () => {
  const allocator = new BlockAllocator(4);
  expectFailure(
    () => allocator.claim({ firstBlock: 1, blockCount: 0 }),
    "InvalidArgument",
    /not a block run/,
  );
  allocator.claim({ firstBlock: 1, blockCount: 1 });
  expectFailure(
    () => allocator.release({ firstBlock: 1, blockCount: 0 }),
    "InvalidArgument",
    /not a block run/,
  );
});

// A container runtime may report as its limit the host's whole memory: that is no cgroup limit, and the
// refusal names the host's memory, not a cgroup the operator would look for and not find.
test("a cgroup limit equal to the host's memory is the host's memory, named so", () => {
  // Blocks enough that their allocator is over half of this host's memory, whatever the host has.
  const blockCount = Math.ceil(totalmem() / 18) + 1;
  const tooLarge = { ...computeGeometry(2 ** 30, 4096, 1024), blockCount, regionSize: blockCount * 4096 };
  const real = Object.getOwnPropertyDescriptor(process, "constrainedMemory");
  try {
    Object.defineProperty(process, "constrainedMemory", { value: () => totalmem(), configurable: true });
    expectFailure(
      () => checkAllocatorFits(tooLarge),
      "NoSpace",
      /over half of this host's [\d.]+ [KMGT]iB: pass/,
    );
  } finally {
    if (real) Object.defineProperty(process, "constrainedMemory", real);
    else delete (process as { constrainedMemory?: unknown }).constrainedMemory;
  }
});
