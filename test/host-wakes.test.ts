/**
 * The arbiter's wakes of the host's futex sleepers (src/host/host-wakes.ts), with the mailbox and the
 * slot words injected: a guest's WAKE reaches the host mailbox only when the park record says sleepers of
 * the host's kernel are there (no futex call otherwise), never for a channel's words; a dead holder's
 * mutex or condvar slot has all its sleepers woken.
 */
import { expect, test } from "bun:test";
import { HostWakes } from "../src/host/host-wakes.ts";
import type { RegionSlots } from "../src/host/slots.ts";
import {
  mailboxIndex,
  PARKABLE_WORDS,
  parkRecord,
  SlotKind,
  SlotWord,
  WAKE_ALL,
} from "../src/region/layout.ts";
import type { WakeMailbox } from "../src/region/mailbox.ts";

const HOST = 0x111;
const GUEST = 0x222;
const SLOT = 3;
const [LOCK, SEQUENCE] = PARKABLE_WORDS;

function setUp(kind: number) {
  const words = new Map<number, number>([[SlotWord.kind, kind]]);
  const slots = { load: (_slot: number, word: number) => words.get(word) ?? 0 } as unknown as RegionSlots;
  const woken: [number, number][] = [];
  const mailbox = {
    domain: HOST,
    wake: (index: number, count: number) => void woken.push([index, count]),
  } as unknown as WakeMailbox;
  const Made = HostWakes as unknown as new (mailbox: WakeMailbox, slots: RegionSlots) => HostWakes;
  return { wakes: new Made(mailbox, slots), words, woken };
}

test("a WAKE reaches the host mailbox only for sleepers of the host's kernel parked there", () => {
  const { wakes, words, woken } = setUp(SlotKind.mutex);
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
  const { wakes, words, woken } = setUp(SlotKind.channel);
  words.set(LOCK!.parked, parkRecord(HOST, 2));
  wakes.wakeWord(SLOT, LOCK!.word, 1);
  wakes.wakeSlot(SLOT);
  expect(woken).toEqual([]);
});

test("a mutex's or a condvar's slot has every host sleeper of both its words woken", () => {
  for (const kind of [SlotKind.mutex, SlotKind.condvar]) {
    const { wakes, woken } = setUp(kind);
    wakes.wakeSlot(SLOT);
    expect(woken).toEqual([
      [mailboxIndex(SLOT, LOCK!), WAKE_ALL],
      [mailboxIndex(SLOT, SEQUENCE!), WAKE_ALL],
    ]);
  }
});
