/**
 * The arbiter's host wakes (src/host/host-wakes.ts) with the mailbox and the slot words injected: for the
 * unit tests of which wakes reach the host's futex sleepers.
 */
import { HostWakes } from "../../src/host/host-wakes.ts";
import type { RegionSlots } from "../../src/host/slots.ts";
import { SlotWord } from "../../src/region/layout.ts";
import type { WakeMailbox } from "../../src/region/mailbox.ts";

/** The host kernel's domain, as the injected mailbox says. */
export const HOST = 0x111;

/**
 * HostWakes over slots whose words are `words` (the kind word `kind`, any other 0 until set), with a
 * mailbox of the host's that records each wake it is asked for in `woken` ([index, count]).
 */
export function injectedWakes(kind: number) {
  const words = new Map<number, number>([[SlotWord.kind, kind]]);
  const slots = { load: (_slot: number, word: number) => words.get(word) ?? 0 } as unknown as RegionSlots;
  const woken: [number, number][] = [];
  const mailbox = {
    domain: HOST,
    wake: (index: number, count: number) => void woken.push([index, count]),
  } as unknown as WakeMailbox;
  // The constructor is private: HostWakes.open maps the real mailbox.
  const Made = HostWakes as unknown as new (mailbox: WakeMailbox, slots: RegionSlots) => HostWakes;
  return { wakes: new Made(mailbox, slots), words, woken };
}
