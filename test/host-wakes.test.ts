/**
 * The arbiter's wakes of the host's futex sleepers (src/host/host-wakes.ts), with the mailbox and the
 * slot words injected: a guest's WAKE reaches the host mailbox only when the park record says sleepers of
 * the host's kernel are there (no futex call otherwise), never for a channel's words; a dead holder's
 * mutex or condvar slot has all its sleepers woken.
 */
import { expect, test } from "bun:test";
import { mailboxIndex, PARKABLE_WORDS, parkRecord, SlotKind, WAKE_ALL } from "../src/region/layout.ts";
import { HOST, injectedWakes } from "./helpers/host-wakes.ts";

const GUEST = 0x222;
const SLOT = 3;
const [LOCK, SEQUENCE] = PARKABLE_WORDS;

test("a WAKE reaches the host mailbox only for sleepers of the host's kernel parked there", () => {
  const { wakes, words, woken } = injectedWakes(SlotKind.mutex);
  wakes.wakeWord(SLOT, LOCK!.word, 1); // nobody parked
  words.set(LOCK!.parked, parkRecord(HOST, 0));
  wakes.wakeWord(SLOT, LOCK!.word, 1); // a record of the host's, count 0
  words.set(LOCK!.parked, parkRecord(GUEST, 2));
  wakes.wakeWord(SLOT, LOCK!.word, 1); // a guest's sleepers: not the host's to wake
  expect(woken).toEqual([]);
  words.set(LOCK!.parked, parkRecord(HOST, 2));
  wakes.wakeWord(SLOT, LOCK!.word, 1);
  expect(woken).toEqual([[mailboxIndex(SLOT, LOCK!), 1]]);
});

test("a channel's words are not park records: no wake", () => {
  const { wakes, words, woken } = injectedWakes(SlotKind.channel);
  words.set(LOCK!.parked, parkRecord(HOST, 2));
  wakes.wakeWord(SLOT, LOCK!.word, 1);
  wakes.wakeSlot(SLOT);
  expect(woken).toEqual([]);
});

test("a mutex's or a condvar's slot has every host sleeper of both its words woken", () => {
  for (const kind of [SlotKind.mutex, SlotKind.condvar]) {
    const { wakes, woken } = injectedWakes(kind);
    wakes.wakeSlot(SLOT);
    expect(woken).toEqual([
      [mailboxIndex(SLOT, LOCK!), WAKE_ALL],
      [mailboxIndex(SLOT, SEQUENCE!), WAKE_ALL],
    ]);
  }
});
