/**
 * src/region/layout.ts's accessors, at the edges their comments promise: what every ivsh (and every VM's
 * copy of it) must compute alike, since the words they address and the values they pack are shared.
 */
import { expect, test } from "bun:test";
import {
  computeGeometry,
  confirmationOf,
  isChannelSlotName,
  MAILBOX_WORDS_PER_SLOT,
  MAX_BLOCK_COUNT,
  mailboxIndex,
  PARKABLE_WORDS,
  readSetupFailure,
  ringChunkOffset,
  type SetupFailureReason,
  setupFailureNote,
} from "../src/region/layout.ts";
import { expectFailure } from "./helpers/errors.ts";

test("a kernel's wake mailbox: each slot's parkable words have words of their own, two a slot", () => {
  const seen = new Set<number>();
  for (const slot of [0, 1, 2, 1000])
    for (const parkable of PARKABLE_WORDS) {
      const index = mailboxIndex(slot, parkable);
      expect(index).toBe(slot * MAILBOX_WORDS_PER_SLOT + parkable.mailboxWord);
      expect(seen.has(index)).toBe(false);
      seen.add(index);
    }
  expect(PARKABLE_WORDS.map((parkable) => parkable.mailboxWord)).toEqual([0, 1]);
});

test("a setup failure note past client id 2^28 - 1 says its reason, and client 0", () => {
  for (const reason of ["noSpace", "quota", "other", "journal"] satisfies SetupFailureReason[]) {
    expect(readSetupFailure(setupFailureNote(reason, (1 << 28) - 1))).toEqual({
      reason,
      clientId: (1 << 28) - 1,
    });
    expect(readSetupFailure(setupFailureNote(reason, (1 << 28) + 5))).toEqual({ reason, clientId: 0 });
    expect(readSetupFailure(setupFailureNote(reason, 0x3fffffff))).toEqual({ reason, clientId: 0 });
  }
});

test("only a name that starts with 'channel:' is in the channels' part of the names", () => {
  expect(isChannelSlotName("channel:a")).toBe(true);
  expect(isChannelSlotName("team:channel:a")).toBe(false);
  expect(isChannelSlotName("channels")).toBe(false);
});

test("a receiver's confirmation is of this transfer: the same bytes sent again confirm differently", () => {
  const digest = 0x0123456789abcdefn;
  const first = confirmationOf(digest, 7);
  expect(confirmationOf(digest, 8)).not.toBe(first);
  expect(confirmationOf(digest ^ 1n, 7)).not.toBe(first);
  // Stored with Atomics in an Int32Array: a signed 32-bit value, or the check never matches.
  expect(first).toBe(first | 0);
});

test("a ring's first chunk starts on the page after its record headers (docs/layout.md, the ring segment)", () => {
  // Sender and receiver may be different builds in different VMs: both must find chunk 0 at this offset.
  expect([1, 2, 128, 129, 256, 257].map(ringChunkOffset)).toEqual([4096, 4096, 4096, 8192, 8192, 12288]);
});

test("exactly the most blocks a block index counts is a region; one block more is refused", () => {
  // One slot: the data starts at 8 KiB. A block index counts to MAX_BLOCK_COUNT, inclusive.
  const most = 8192 + MAX_BLOCK_COUNT * 4096;
  expect(computeGeometry(most, 4096, 1).blockCount).toBe(MAX_BLOCK_COUNT);
  expectFailure(
    () => computeGeometry(most + 4096, 4096, 1),
    "InvalidArgument",
    /more than 2147483647 blocks/,
  );
});

test("no room for a block: fewer --slots is offered exactly when a single slot would leave room for one", () => {
  // 12 KiB: a page of header, a page of slots (up to 64) and one 4 KiB block, just.
  expectFailure(() => computeGeometry(12288, 4096, 65), "InvalidArgument", /, or pass fewer --slots/);
  // 8 KiB: not even one slot's page and a block fit.
  expectFailure(
    () => computeGeometry(8192, 4096, 65),
    "InvalidArgument",
    /\(--size 16KiB or more fits one\)$/,
  );
});
