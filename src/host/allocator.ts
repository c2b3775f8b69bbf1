/**
 * Block allocator of the arbiter. Free blocks form a doubly linked list threaded through two Int32Arrays,
 * so taking the head (a single-block alloc) and pushing a freed block are O(1), and any block can be
 * unlinked in O(1) when a multi-block segment claims a contiguous run of them.
 *
 * Freed blocks go to the head of the list: the next single-block alloc reuses the most recently freed
 * block, whose pages are most likely still warm in the caches of whoever reuses them.
 */
import { totalmem } from "node:os";
import { failure } from "../errors.ts";
import type { Geometry } from "../region/layout.ts";
import { formatBytes, formatSizeFlag } from "../units.ts";

const NONE = -1;

/** What the allocator keeps per block: two links (Int32Array each) and a used flag (Uint8Array). */
export const ALLOCATOR_BYTES_PER_BLOCK = 9;

/**
 * The memory the arbiter may take: the host's, or less under a cgroup's limit (a container, a systemd
 * unit's MemoryMax), past which the kernel kills it however much the host has.
 */
export function arbiterMemory(): number {
  return cgroupLimit() ?? totalmem();
}

/** The cgroup's limit when it is below the host's memory (none: 0, or a huge "unlimited" value). */
function cgroupLimit(): number | undefined {
  const constrained = process.constrainedMemory?.() ?? 0;
  return constrained > 0 && constrained < totalmem() ? constrained : undefined;
}

/**
 * Refuses, before anything is made, a region whose allocator would take over half this host's memory: at
 * the block cap (2^31 - 1 blocks, 8 TiB in 4 KiB blocks) it is ~18 GiB, every byte touched at start-up, and
 * the arbiter would be killed for it by the kernel (or take the host's memory from its VMs). Resuming from
 * `statePath` (its allocations kept), it refuses only an allocator over all of it: the region served
 * before, and the way to a smaller allocator (a new --state) drops every segment, lock and session.
 */
export function checkAllocatorFits(
  geometry: Geometry,
  memoryBytes = arbiterMemory(),
  statePath?: string,
): void {
  const needed = geometry.blockCount * ALLOCATOR_BYTES_PER_BLOCK;
  const limit = statePath === undefined ? memoryBytes / 2 : memoryBytes;
  if (needed <= limit) return;
  // Named as what it is: a cgroup's limit, not the host's memory (which `free` shows far larger).
  const cgroup = cgroupLimit() === memoryBytes;
  const memory = cgroup
    ? `the ${formatBytes(memoryBytes)} its cgroup lets the arbiter take (the host has ${formatBytes(totalmem())})`
    : `this host's ${formatBytes(memoryBytes)}`;
  let blockSize = geometry.blockSize * 2;
  while (Math.floor(geometry.regionSize / blockSize) * ALLOCATOR_BYTES_PER_BLOCK > memoryBytes / 2)
    blockSize *= 2;
  const remedy = `pass --block-size ${formatSizeFlag(blockSize)} or more`;
  throw failure(
    "NoSpace",
    `set up the block allocator of the ${formatBytes(geometry.regionSize)} region`,
    `its ${geometry.blockCount} blocks of ${formatBytes(geometry.blockSize)} would take the arbiter ` +
      `${formatBytes(needed)} of memory (${ALLOCATOR_BYTES_PER_BLOCK} bytes a block), over ` +
      `${statePath === undefined ? "half of " : ""}${memory}: ` +
      (statePath === undefined
        ? `${remedy} (with a new --state)`
        : `${cgroup ? "raise its cgroup's memory limit" : "run it on a host with more memory"} to keep ${statePath}'s segments, locks and sessions, or ` +
          `stop every client and ${remedy} with a new --state, which starts without them`),
  );
}

export interface BlockRun {
  firstBlock: number;
  blockCount: number;
}

export class BlockAllocator {
  private readonly next: Int32Array;
  private readonly previous: Int32Array;
  private readonly used: Uint8Array;
  private head = NONE;
  private freeCount = 0;

  constructor(readonly blockCount: number) {
    this.next = new Int32Array(blockCount);
    this.previous = new Int32Array(blockCount);
    this.used = new Uint8Array(blockCount);
    for (let block = blockCount - 1; block >= 0; block--) this.push(block);
  }

  get free(): number {
    return this.freeCount;
  }

  /**
   * Chooses `blockCount` contiguous free blocks without taking them (`claim` does): O(1) for one block,
   * the head of the free list; first fit over the free map for a run.
   */
  choose(blockCount: number, what = "allocate a segment"): BlockRun {
    if (!Number.isInteger(blockCount) || blockCount < 1)
      throw failure("InvalidArgument", `allocate ${blockCount} blocks`, "a segment needs at least one block");
    // Said as the caller's request ("allocate segment 'frame'"): "allocate 1 blocks" named neither it nor the segment.
    const needs = `it needs ${blockCount} ${blockCount === 1 ? "block" : "blocks"}`;
    if (blockCount > this.freeCount)
      throw failure(
        "NoSpace",
        what,
        `${needs} and only ${this.freeCount} of ${this.blockCount} blocks ${this.freeCount === 1 ? "is" : "are"} free (free some segments or start the arbiter with a larger --size)`,
      );
    if (blockCount === 1) return { firstBlock: this.head, blockCount: 1 };
    const firstBlock = this.findRun(blockCount);
    if (firstBlock === NONE)
      throw failure(
        "NoSpace",
        what,
        `it needs ${blockCount} adjacent blocks: ${this.freeCount} blocks are free, but no ${blockCount} of them are adjacent (the region is fragmented)`,
      );
    return { firstBlock, blockCount };
  }

  /** Marks a run used: after `choose`, and when a restarted arbiter re-establishes persisted segments. */
  claim(run: BlockRun): void {
    this.checkRun(run, "claim");
    for (let block = run.firstBlock; block < run.firstBlock + run.blockCount; block++)
      if (this.used[block] === 1)
        throw failure("StateInvalid", `claim block ${block}`, "it is already part of another segment");
    for (let block = run.firstBlock; block < run.firstBlock + run.blockCount; block++) this.unlink(block);
  }

  release(run: BlockRun): void {
    this.checkRun(run, "release");
    for (let block = run.firstBlock; block < run.firstBlock + run.blockCount; block++)
      if (this.used[block] !== 1) throw failure("Internal", `release block ${block}`, "it is already free");
    // Pushed in reverse so the run sits at the head in ascending order (the next allocs walk it forwards).
    for (let block = run.firstBlock + run.blockCount - 1; block >= run.firstBlock; block--) this.push(block);
  }

  private findRun(blockCount: number): number {
    let runStart = 0;
    for (let block = 0; block < this.blockCount; block++) {
      if (this.used[block] === 1) runStart = block + 1;
      else if (block - runStart + 1 === blockCount) return runStart;
    }
    return NONE;
  }

  private push(block: number): void {
    this.used[block] = 0;
    this.previous[block] = NONE;
    this.next[block] = this.head;
    if (this.head !== NONE) this.previous[this.head] = block;
    this.head = block;
    this.freeCount++;
  }

  private unlink(block: number): void {
    const before = this.previous[block]!;
    const after = this.next[block]!;
    if (before === NONE) this.head = after;
    else this.next[before] = after;
    if (after !== NONE) this.previous[after] = before;
    this.used[block] = 1;
    this.freeCount--;
  }

  private checkRun(run: BlockRun, action: string): void {
    const { firstBlock, blockCount } = run;
    if (!Number.isInteger(firstBlock) || !Number.isInteger(blockCount) || firstBlock < 0 || blockCount < 1)
      throw failure(
        "InvalidArgument",
        `${action} blocks ${firstBlock}+${blockCount}`,
        "that is not a block run",
      );
    if (firstBlock + blockCount > this.blockCount)
      throw failure(
        "InvalidArgument",
        `${action} blocks ${firstBlock}+${blockCount}`,
        `the region has ${this.blockCount}`,
      );
  }
}
