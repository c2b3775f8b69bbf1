/**
 * Whom a waker's Parker (src/guest/parking.ts) wakes, with the client and the kernel's wake mailbox
 * injected: sleepers of this kernel through the mailbox, sleepers of another kernel through the arbiter
 * (its WAKE), nobody for a slot that now holds another object or once the session is lost; and a park
 * record full of this kernel's sleepers takes no more (its count would carry into the domain bits).
 */
import { expect, test } from "bun:test";
import { Parker, type ParkingClient, ParkSite } from "../src/guest/parking.ts";
import {
  computeGeometry,
  MAX_FUTEX_PARKED,
  PARKABLE_WORDS,
  parkRecord,
  SlotWord,
  slotWordIndex,
} from "../src/region/layout.ts";
import type { WakeMailbox } from "../src/region/mailbox.ts";

const HERE = 0x111;
const ELSEWHERE = 0x222;
const SLOT = 2;
const [LOCK] = PARKABLE_WORDS;

function setUp() {
  const geometry = computeGeometry(1 << 20, 4096, 8);
  const viaArbiter: [number, number, number][] = [];
  const viaMailbox: [number, number][] = [];
  const client = {
    words: new Int32Array((geometry.slotOffset + geometry.slotCount * 64) / 4),
    geometry,
    lost: undefined as Error | undefined,
    waitWord: async () => true,
    wakeWord: (slot: number, word: number, count: number) => void viaArbiter.push([slot, word, count]),
    flushWrites: () => {},
    owedWakes: new Map<number, number>(),
  } satisfies ParkingClient;
  const mailbox = {
    domain: HERE,
    wake: (index: number, count: number) => {
      viaMailbox.push([index, count]);
      return 0;
    },
  } as unknown as WakeMailbox;
  const parker = new Parker(client, mailbox);
  const site = new ParkSite(client, SLOT, LOCK!);
  return { client, parker, site, viaArbiter, viaMailbox };
}

test("sleepers of this kernel are woken through the mailbox; of another kernel, through the arbiter", () => {
  const here = setUp();
  here.client.words[here.site.parkedIndex] = parkRecord(HERE, 1);
  here.parker.wake(here.site, 1);
  expect(here.viaMailbox).toEqual([[here.site.mailboxIndex, 1]]);
  expect(here.viaArbiter).toEqual([]);
  const elsewhere = setUp();
  elsewhere.client.words[elsewhere.site.parkedIndex] = parkRecord(ELSEWHERE, 1);
  elsewhere.parker.wake(elsewhere.site, 1);
  expect(elsewhere.viaArbiter).toEqual([[SLOT, LOCK!.word, 1]]);
  expect(elsewhere.viaMailbox).toEqual([]);
});

test("wakeSlot wakes nobody for a slot now holding another object, nor once the session is lost", () => {
  const { client, parker, site, viaMailbox } = setUp();
  client.words[slotWordIndex(client.geometry, SLOT, SlotWord.generation)] = 5;
  client.words[site.parkedIndex] = parkRecord(HERE, 1);
  parker.wakeSlot(SLOT, 4);
  expect(viaMailbox).toEqual([]);
  client.lost = new Error("lost");
  parker.wakeSlot(SLOT, 5);
  expect(viaMailbox).toEqual([]);
  client.lost = undefined;
  parker.wakeSlot(SLOT, 5);
  expect(viaMailbox).toEqual([[site.mailboxIndex, expect.any(Number)]]);
});

test("a park record holding the most sleepers it can count takes no more", () => {
  const { client, parker, site } = setUp();
  const announce = (parker as unknown as { announce(site: ParkSite): boolean }).announce.bind(parker);
  client.words[site.parkedIndex] = parkRecord(HERE, MAX_FUTEX_PARKED - 1);
  expect(announce(site)).toBe(true);
  expect(announce(site)).toBe(false);
  expect(client.words[site.parkedIndex]).toBe(parkRecord(HERE, MAX_FUTEX_PARKED));
});
