/**
 * Edges of src/host/host-wakes.ts: a guest's WAKE passes its count on to the host's mailbox (a broadcast
 * wakes every host sleeper, not one), and a wake-up file refused for a quota says to make room.
 */
import { afterEach, expect, spyOn, test } from "bun:test";
import { HostWakes } from "../src/host/host-wakes.ts";
import type { RegionSlots } from "../src/host/slots.ts";
import { mailboxIndex, PARKABLE_WORDS, parkRecord, SlotKind, WAKE_ALL } from "../src/region/layout.ts";
import { WakeMailbox } from "../src/region/mailbox.ts";
import { HOST, injectedWakes } from "./helpers/host-wakes.ts";

const SLOT = 4;

test("a guest's WAKE passes its count on: a broadcast wakes every host sleeper, three wake three", () => {
  const { wakes, words, woken } = injectedWakes(SlotKind.condvar);
  for (const parkable of PARKABLE_WORDS) words.set(parkable.parked, parkRecord(HOST, 5));
  const [first, second] = PARKABLE_WORDS;
  wakes.wakeWord(SLOT, second!.word, WAKE_ALL);
  wakes.wakeWord(SLOT, first!.word, 3);
  expect(woken).toEqual([
    [mailboxIndex(SLOT, second!), WAKE_ALL],
    [mailboxIndex(SLOT, first!), 3],
  ]);
});

const opens: { mockRestore(): void }[] = [];
afterEach(() => {
  for (const spy of opens.splice(0)) spy.mockRestore();
});

test("a wake-up file refused by a quota (EDQUOT) is said with its remedy: make room", () => {
  const refusal = Object.assign(new Error("EDQUOT: disk quota exceeded, open"), { code: "EDQUOT" });
  opens.push(
    spyOn(WakeMailbox, "open").mockImplementation(() => {
      throw refusal;
    }),
  );
  const notes: string[] = [];
  const slots = {} as RegionSlots;
  // Kept, without a mailbox, for the sweep to try again (test/wake-file-late.test.ts): nothing to name yet.
  expect(HostWakes.open("/dev/shm/mut23-dir/region", 8, slots, notes)?.problems).toEqual([]);
  expect(notes.length).toBe(1);
  expect(notes[0]).toContain("disk quota exceeded");
  expect(notes[0]).toEndWith("; make room on /dev/shm/mut23-dir's file system");
});
