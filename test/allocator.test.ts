import { describe, expect, test } from "bun:test";
import { totalmem } from "node:os";
import { BlockAllocator, checkAllocatorFits } from "../src/host/allocator.ts";
import type { StateRecord } from "../src/host/records.ts";
import { ArbiterState, type SlotMemory } from "../src/host/state.ts";
import { computeGeometry, MAX_CLIENT_ID } from "../src/region/layout.ts";
import { expectFailure } from "./helpers/errors.ts";
import { Prng } from "./helpers/prng.ts";

describe("block allocator", () => {
  test("hands out every block once, then refuses, then reuses what was freed (most recent first)", () => {
    const allocator = new BlockAllocator(8);
    const taken = Array.from({ length: 8 }, () => {
      const run = allocator.choose(1);
      allocator.claim(run);
      return run.firstBlock;
    });
    expect(new Set(taken).size).toBe(8);
    expect(allocator.free).toBe(0);
    expectFailure(() => allocator.choose(1), "NoSpace", /only 0 of 8 blocks are free/);
    allocator.release({ firstBlock: 3, blockCount: 1 });
    allocator.release({ firstBlock: 6, blockCount: 1 });
    expect(allocator.choose(1).firstBlock).toBe(6);
  });

  test("multi-block segments are contiguous; fragmentation is reported as such", () => {
    const allocator = new BlockAllocator(10);
    const first = allocator.choose(4);
    allocator.claim(first);
    expect(first).toEqual({ firstBlock: 0, blockCount: 4 });
    allocator.claim({ firstBlock: 6, blockCount: 1 });
    expect(allocator.choose(2)).toEqual({ firstBlock: 4, blockCount: 2 });
    expectFailure(() => allocator.choose(4), "NoSpace", /no 4 of them are adjacent/);
    allocator.release(first);
    expect(allocator.choose(4)).toEqual({ firstBlock: 0, blockCount: 4 });
  });

  test("a refusal with one block left says it is free, not are", () => {
    const allocator = new BlockAllocator(4);
    allocator.claim({ firstBlock: 0, blockCount: 3 });
    expectFailure(() => allocator.choose(2), "NoSpace", /needs 2 blocks and only 1 of 4 blocks is free \(/);
  });

  test("random allocs and frees against a model: every block handed out is free, and all free ones stay reachable", () => {
    const blocks = 64;
    const allocator = new BlockAllocator(blocks);
    const used = new Uint8Array(blocks);
    const runs: { firstBlock: number; blockCount: number }[] = [];
    const random = new Prng(20261205);
    for (let step = 0; step < 5000; step++) {
      if (runs.length > 0 && random.chance(0.45)) {
        const [run] = runs.splice(random.int(runs.length), 1);
        allocator.release(run!);
        used.fill(0, run!.firstBlock, run!.firstBlock + run!.blockCount);
        continue;
      }
      // Runs of several blocks unlink blocks from the middle of the free list, not only its head.
      const wanted = random.chance(0.5) ? 1 : random.range(2, 5);
      let run: { firstBlock: number; blockCount: number };
      try {
        run = allocator.choose(wanted);
      } catch {
        continue; // full or fragmented: checked below, by the free count and the final sweep
      }
      expect(run.firstBlock).toBeGreaterThanOrEqual(0);
      expect([...used.subarray(run.firstBlock, run.firstBlock + wanted)]).toEqual(new Array(wanted).fill(0));
      allocator.claim(run);
      used.fill(1, run.firstBlock, run.firstBlock + wanted);
      runs.push(run);
      expect(allocator.free).toBe(used.filter((bit) => bit === 0).length);
    }
    // Every free block is still on the list: single-block allocs hand out exactly the free ones.
    const free = allocator.free;
    const handed = Array.from({ length: free }, () => {
      const run = allocator.choose(1);
      allocator.claim(run);
      return run.firstBlock;
    });
    expect(handed.sort((a, b) => a - b)).toEqual([...used.keys()].filter((block) => used[block] === 0));
    expectFailure(() => allocator.choose(1), "NoSpace", /only 0 of 64 blocks are free/);
  });

  test("claiming a used block or releasing a free one is refused", () => {
    const allocator = new BlockAllocator(4);
    allocator.claim({ firstBlock: 1, blockCount: 2 });
    expectFailure(
      () => allocator.claim({ firstBlock: 2, blockCount: 1 }),
      "StateInvalid",
      /already part of another segment/,
    );
    expectFailure(() => allocator.release({ firstBlock: 0, blockCount: 1 }), "Internal", /already free/);
    expectFailure(() => allocator.choose(0), "InvalidArgument", /at least one block/);
  });
});

class FakeSlots implements SlotMemory {
  owners = new Map<number, number>();
  initialise() {}
  clear() {}
  releaseDeadOwner(slot: number, _kind: string, clientId: number): boolean {
    if (this.owners.get(slot) !== clientId) return false;
    this.owners.delete(slot);
    return true;
  }
}

function makeState(limits = { clientQuotaBlocks: 0, vmQuotaBlocks: 0 }) {
  const geometry = computeGeometry(1 << 20, 4096, 16);
  const journal: StateRecord[] = [];
  const state = new ArbiterState(geometry, limits, new FakeSlots());
  state.attachJournal({ append: (record) => journal.push(record) });
  return { state, journal, geometry };
}

// Left open by an earlier session: at the block cap the allocator takes ~18 GiB, all touched at start-up,
// whatever the host has. Arithmetic only: no such region, nor allocator, is made here.
test("a region whose allocator would take over half the host's memory is refused before anything is made", () => {
  const GiB = 2 ** 30;
  const capped = computeGeometry(8 * 2 ** 40, 4096, 1024); // 8 TiB in 4 KiB blocks: 2^31 - 1 of them
  expectFailure(
    () => checkAllocatorFits(capped, 16 * GiB),
    "NoSpace",
    /its 2147483\d+ blocks of 4\.00 KiB would take the arbiter 18\.0 GiB of memory \(9 bytes a block\), over half of this host's 16\.0 GiB: pass --block-size 16KiB or more/,
  );
  expectFailure(() => checkAllocatorFits(capped, 4 * GiB), "NoSpace", /--block-size 64KiB or more/);
  checkAllocatorFits(capped, 64 * GiB); // 18 GiB of 64: let be
  checkAllocatorFits(computeGeometry(2 ** 30, 4096, 1024), 1 * GiB); // 1 GiB in 4 KiB blocks: 2.25 MiB
});

// An arbiter that served yesterday was refused today (upgraded, or on a host whose memory shrank), and
// the way out it gave (a new --state) silently dropped every allocation of the state it resumes.
test("a region resumed from its state is refused only when its allocator would not fit the memory at all", () => {
  const GiB = 2 ** 30;
  const capped = computeGeometry(8 * 2 ** 40, 4096, 1024); // 18 GiB of allocator
  checkAllocatorFits(capped, 32 * GiB, "/var/lib/ivsh/state"); // over half of 32 GiB: it served so before
  expectFailure(
    () => checkAllocatorFits(capped, 16 * GiB, "/var/lib/ivsh/state"),
    "NoSpace",
    /18\.0 GiB of memory \(9 bytes a block\), over this host's 16\.0 GiB: run it on a host with more memory to keep \/var\/lib\/ivsh\/state's segments, locks and sessions, or stop every client and pass --block-size 16KiB or more with a new --state, which starts without them/,
  );
});

// os.totalmem() is the host's memory: an arbiter in a container (or a unit with MemoryMax) limited to
// 1 GiB was let start a 2.25 GiB allocator, and the kernel killed it for it.
test("the memory an allocator must fit is the cgroup's limit when there is one, not the host's", () => {
  const GiB = 2 ** 30;
  const oneTiB = computeGeometry(2 ** 40, 4096, 1024); // 2^28 blocks: 2.25 GiB of allocator
  if (totalmem() < 8 * GiB) return; // the host's own memory would refuse it: nothing to tell apart
  const real = Object.getOwnPropertyDescriptor(process, "constrainedMemory");
  try {
    Object.defineProperty(process, "constrainedMemory", { value: () => GiB, configurable: true });
    expectFailure(
      () => checkAllocatorFits(oneTiB),
      "NoSpace",
      /over half of the 1\.00 GiB its cgroup lets the arbiter take \(the host has \d+(\.\d+)? GiB\): pass --block-size/,
    );
    Object.defineProperty(process, "constrainedMemory", { value: () => 0, configurable: true });
    checkAllocatorFits(oneTiB); // no limit known: the host's memory
  } finally {
    if (real) Object.defineProperty(process, "constrainedMemory", real);
    else delete (process as { constrainedMemory?: unknown }).constrainedMemory;
  }
});

describe("arbiter state", () => {
  test("a full or fragmented region names the segment refused and counts its blocks as words do", () => {
    const { state, geometry } = makeState();
    const client = state.openSession("a", 1, "host");
    const singles = Array.from({ length: geometry.blockCount }, () =>
      state.allocate(client, 1, 0, "write", ""),
    );
    expectFailure(
      () => state.allocate(client, 1, 0, "write", "frame"),
      "NoSpace",
      /^Failed to allocate segment 'frame' since it needs 1 block and only 0 of \d+ blocks are free/,
    );
    for (const segment of singles.filter((_, index) => index % 2 === 0)) state.free(client, segment.id);
    expectFailure(
      () => state.allocate(client, 0, 2, "write", "pair"),
      "NoSpace",
      /^Failed to allocate segment 'pair' since it needs 2 adjacent blocks: \d+ blocks are free, but no 2 of them are adjacent/,
    );
  });

  test("sizes round up to whole blocks; either bytes or blocks", () => {
    const { state } = makeState();
    const client = state.openSession("a", 1, "host");
    expect(state.allocate(client, 4097, 0, "write", "").blockCount).toBe(2);
    expect(state.allocate(client, 0, 3, "write", "").blockCount).toBe(3);
    expectFailure(
      () => state.allocate(client, 10, 1, "write", ""),
      "InvalidArgument",
      /gives both a size in bytes and a number of blocks, or neither/,
    );
    expectFailure(
      () => state.allocate(client, 0, 0, "write", ""),
      "InvalidArgument",
      /both a size in bytes and a number of blocks, or neither/,
    );
  });

  test("per-client and per-VM quotas", () => {
    const { state } = makeState({ clientQuotaBlocks: 4, vmQuotaBlocks: 6 });
    const a = state.openSession("a", 1, "vm1");
    const b = state.openSession("b", 2, "vm1");
    const c = state.openSession("c", 3, "vm2");
    state.allocate(a, 0, 4, "write", "");
    expectFailure(
      () => state.allocate(a, 0, 1, "write", ""),
      "QuotaExceeded",
      /of its quota of 4 .*--client-quota/,
    );
    state.allocate(b, 0, 2, "write", "");
    expectFailure(
      () => state.allocate(b, 0, 1, "write", ""),
      "QuotaExceeded",
      /VM 'vm1' already has 6 blocks \(.*\) of its quota of 6 blocks/,
    );
    expect(state.allocate(c, 0, 4, "write", "").blockCount).toBe(4);
    const segment = [...a.grants.keys()][0]!;
    state.free(a, segment);
    expect(state.allocate(b, 0, 2, "write", "").blockCount).toBe(2);
  });

  test("a quota refusal says what the request needs and counts what the client created, not what it holds", () => {
    const { state } = makeState({ clientQuotaBlocks: 8, vmQuotaBlocks: 0 });
    const creator = state.openSession("creator", 1, "host");
    const holder = state.openSession("holder", 2, "host");
    const given = state.allocate(creator, 0, 1, "write", "given");
    state.open(holder, "given", "read");
    state.free(creator, given.id);
    // Before: "client 1 holds 1 block (4.00 KiB) and its quota is 8 blocks (32.0 KiB)", for a request of 8
    // blocks it did not name, from a client that held nothing.
    expectFailure(
      () => state.allocate(creator, 0, 8, "write", ""),
      "QuotaExceeded",
      /since it needs 8 blocks \(32\.0 KiB\) and client 1 already has 1 block \(4\.00 KiB\) of its quota of 8 blocks \(32\.0 KiB\) in segments it created, each counted until its last holder frees it/,
    );
  });

  // Left open by an earlier session: the advice was "free one" to a creator that had freed its own grant
  // while another client held the segment, which it cannot free again (a double free): say which segments
  // count and why, and what is left to do about those others hold.
  test("a quota refusal of a creator that freed its grant says the segments count until their last holder frees them", () => {
    const { state } = makeState({ clientQuotaBlocks: 2, vmQuotaBlocks: 3 });
    const creator = state.openSession("creator", 1, "vm1");
    const holder = state.openSession("holder", 2, "vm2");
    const given = state.allocate(creator, 0, 2, "write", "given");
    state.open(holder, "given", "read");
    state.free(creator, given.id);
    expectFailure(
      () => state.allocate(creator, 0, 1, "write", ""),
      "QuotaExceeded",
      /client 1 already has 2 blocks \(8\.00 KiB\) of its quota of 2 blocks \(8\.00 KiB\) in segments it created, each counted until its last holder frees it, also once this client has freed its own grant \(free those it holds; those held only by other clients count until they free them or end: `ivsh status` lists each segment's holders; or raise --client-quota\)$/,
    );
    const sibling = state.openSession("sibling", 3, "vm1");
    expectFailure(
      () => state.allocate(sibling, 0, 2, "write", ""),
      "QuotaExceeded",
      /VM 'vm1' already has 2 blocks .* in segments its clients created, each counted until its last holder, in any VM, frees it, also once its creator has freed its own grant or ended \(free those its clients hold; those held only by other clients count until they free them or end: `ivsh status` lists each segment.s holders; or raise --vm-quota\)$/,
    );
    expect(() => state.free(creator, given.id)).toThrow(); // the advice "free one" could not be taken
  });

  test("clients that allocated and left leave no charge behind: the arbiter does not grow with each one", () => {
    const { state } = makeState();
    const charges = () => (state as unknown as { blocksByClient: Map<number, number> }).blocksByClient;
    const keeper = state.openSession("keeper", 1, "host");
    // Every `ivsh guest send` is such a client (its ring): before, each left an entry for ever, about
    // 50 bytes of the arbiter's heap per transfer (25 MiB after 500 000).
    for (let cycle = 0; cycle < 1000; cycle++) {
      const client = state.openSession(`transfer ${cycle}`, 1, "host");
      const segment = state.allocate(client, 0, 1, "write", cycle % 2 ? `ring ${cycle}` : "");
      if (cycle % 2) state.open(keeper, segment.name, "read");
      state.endSession(client.clientId);
      if (cycle % 2) state.free(keeper, segment.id);
    }
    expect(charges().size).toBe(0);
    expect(state.allocator.free).toBe(state.geometry.blockCount);
    // A creator that left is charged while its segment lives, and only then.
    const creator = state.openSession("creator", 1, "host");
    const kept = state.allocate(creator, 0, 2, "write", "kept");
    state.open(keeper, "kept", "read");
    state.endSession(creator.clientId);
    expect([...charges()]).toEqual([[creator.clientId, 2]]);
    state.free(keeper, kept.id);
    expect(charges().size).toBe(0);
  });

  test("client ids are never reused, also after sessions end", () => {
    const { state } = makeState();
    const ids = [state.openSession("a", 1, "host").clientId];
    state.endSession(ids[0]!);
    ids.push(state.openSession("b", 2, "host").clientId);
    expect(ids[1]).toBeGreaterThan(ids[0]!);
  });

  // Left open by an earlier session: the advice (a new --state) did not say it drops every allocation.
  test("client ids run out after MAX_CLIENT_ID sessions: NoSpace says what its remedy costs", () => {
    const { state } = makeState();
    state.nextClientId = MAX_CLIENT_ID; // by arithmetic: not 2^30 sessions
    expect(state.openSession("last", 1, "host").clientId).toBe(MAX_CLIENT_ID);
    expectFailure(
      () => state.openSession("one too many", 2, "host"),
      "NoSpace",
      /every client id was used \(1073741823: .*\): a new --state starts afresh, without this one's segments, locks and sessions, so stop every client/,
    );
  });

  test("named segments are freed when the last holder lets go", () => {
    const { state } = makeState();
    const a = state.openSession("a", 1, "host");
    const b = state.openSession("b", 2, "host");
    const segment = state.allocate(a, 8192, 0, "write", "shared");
    state.open(b, "shared", "read");
    expect(state.free(a, segment.id)).toBe(false);
    expect(state.allocator.free).toBe(state.geometry.blockCount - 2);
    expect(state.free(b, segment.id)).toBe(true);
    expect(state.allocator.free).toBe(state.geometry.blockCount);
    expectFailure(() => state.free(b, segment.id), "NotHeld", /double free/);
    expectFailure(() => state.open(b, "shared", "read"), "NotFound", /no segment has that name/);
  });

  test("ending a session drops its grants and releases its locks as owner-died", () => {
    const { state } = makeState();
    const slots = new FakeSlots();
    const owned = new ArbiterState(state.geometry, state.limits, slots);
    const a = owned.openSession("a", 1, "host");
    const mutex = owned.openSync(a, "m", "mutex", 1).object;
    slots.owners.set(mutex.slot, a.clientId);
    owned.allocate(a, 4096, 0, "write", "x");
    const { wake, released } = owned.endSession(a.clientId);
    expect(wake).toContain(mutex.slot);
    expect(released).toEqual({ grants: 1, syncHolds: 1, ownerDied: [{ name: "m", kind: "mutex" }] });
    expect(slots.owners.has(mutex.slot)).toBe(false);
    expect(owned.allocator.free).toBe(owned.geometry.blockCount);
  });

  test("replaying the journal rebuilds the same state", () => {
    const { state, journal, geometry } = makeState();
    const a = state.openSession("a", 1, "vm1");
    const b = state.openSession("b", 2, "vm1");
    state.allocate(a, 0, 3, "write", "kept");
    state.open(b, "kept", "read");
    const gone = state.allocate(b, 0, 2, "write", "");
    state.free(b, gone.id);
    state.openSync(a, "cv", "condvar", 1);
    state.rememberReply(a, 9, "alloc", { segmentId: 1 });
    const replayed = new ArbiterState(geometry, state.limits, new FakeSlots());
    for (const record of journal) replayed.apply(record);
    expect(replayed.snapshot("r")).toEqual(state.snapshot("r"));
    expect(replayed.allocator.free).toBe(state.allocator.free);
    expect(replayed.cachedReply(replayed.session(a.clientId), 9, "alloc")).toEqual({ segmentId: 1 });
  });
});
