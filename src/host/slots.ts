/**
 * The arbiter's hands on the synchronisation slots in shared memory. Clients change these words with
 * atomics and never wait for the arbiter; the arbiter touches them only to set up or clear a slot, to read
 * a word before parking a waiter, and to release the locks of a client that died.
 */
import {
  type Geometry,
  LOCK_OWNER_DIED,
  LOCK_OWNER_MASK,
  LOCK_WAITERS,
  LOCK_WORDS,
  SLOT_WORDS,
  SlotKind,
  type SlotKindName,
  SlotWord,
  slotWordIndex,
} from "../region/layout.ts";
import type { SlotMemory } from "./state.ts";

const NOTHING_RESTORED: readonly string[] = Object.freeze([]) as readonly string[];
const NOTHING_RELEASED: readonly number[] = Object.freeze([]) as readonly number[];

export class RegionSlots implements SlotMemory {
  constructor(
    private readonly words: Int32Array,
    private readonly geometry: Geometry,
  ) {}

  index(slot: number, word: number): number {
    return slotWordIndex(this.geometry, slot, word);
  }

  /** A slot word as `ivsh status` shows it. */
  load(slot: number, word: number): number {
    return this.loadAt(this.index(slot, word));
  }

  /** The word at a global index (`index`), as the wait queue keys its waiters: the futex check reads it. */
  loadAt(index: number): number {
    return Atomics.load(this.words, index);
  }

  initialise(slot: number, kind: SlotKindName, generation: number): void {
    for (let word = 0; word < SLOT_WORDS; word++) Atomics.store(this.words, this.index(slot, word), 0);
    Atomics.store(this.words, this.index(slot, SlotWord.kind), SlotKind[kind]);
    // Written last: a client that checks the generation it was given also sees the zeroed words.
    Atomics.store(this.words, this.index(slot, SlotWord.generation), generation);
  }

  clear(slot: number): void {
    for (let word = 0; word < SLOT_WORDS; word++) Atomics.store(this.words, this.index(slot, word), 0);
  }

  /**
   * Robust-futex style release: if the dead client owns a lock word of the slot, swap its id for OWNER_DIED, keeping
   * the waiters bit so the next owner still wakes the others. A CAS loop, because live clients may be
   * setting the waiters bit at the same moment.
   */
  releaseDeadOwner(slot: number, kind: SlotKindName, clientId: number): boolean {
    let released = false;
    for (const word of LOCK_WORDS[kind])
      released = this.releaseWord(this.index(slot, word), clientId) || released;
    if (released) this.notifyReleased(slot, kind);
    return released;
  }

  /**
   * A condvar's waiters wait on `sequence`, not on the lock: one that checked before the release and
   * parks after it would wait for a notify the dead (or never existing) holder will never send. The bump
   * is that notify (Mesa semantics allow a spurious one); the waiter then relocks and learns "owner-died".
   */
  private notifyReleased(slot: number, kind: SlotKindName): void {
    if (kind === "condvar") Atomics.add(this.words, this.index(slot, SlotWord.sequence), 1);
  }

  /**
   * Puts back the `kind` and `generation` words of a slot if something overwrote them (a free slot holds
   * neither). Returns the names of the words it had to restore.
   */
  restoreIdentity(slot: number, kind: SlotKindName | undefined, generation: number): readonly string[] {
    const expected = { kind: kind ? SlotKind[kind] : 0, generation: kind ? generation >>> 0 : 0 };
    const kindIndex = this.index(slot, SlotWord.kind);
    const generationIndex = this.index(slot, SlotWord.generation);
    // The sweep asks this of every slot every second: the usual answer allocates nothing.
    if (
      Atomics.load(this.words, kindIndex) >>> 0 === expected.kind &&
      Atomics.load(this.words, generationIndex) >>> 0 === expected.generation
    )
      return NOTHING_RESTORED;
    const restored: string[] = [];
    for (const [name, index] of [
      ["kind", kindIndex],
      ["generation", generationIndex],
    ] as const) {
      if (Atomics.load(this.words, index) >>> 0 === expected[name]) continue;
      Atomics.store(this.words, index, expected[name]);
      restored.push(name);
    }
    return restored;
  }

  /**
   * A lock word whose owner is no client of ours was overwritten (ids are never reused, so no live or
   * dead client can be named there by accident): release it as owner-died, so its waiters do not wait for
   * an owner that will never unlock. Returns the bogus owners found.
   */
  releaseUnknownOwners(
    slot: number,
    kind: SlotKindName,
    isClient: (clientId: number) => boolean,
  ): readonly number[] {
    let found: readonly number[] = NOTHING_RELEASED;
    for (const word of LOCK_WORDS[kind]) {
      const owner = Atomics.load(this.words, this.index(slot, word)) & LOCK_OWNER_MASK;
      if (owner !== 0 && !isClient(owner) && this.releaseWord(this.index(slot, word), owner))
        found = [...found, owner];
    }
    if (found.length > 0) this.notifyReleased(slot, kind);
    return found;
  }

  private releaseWord(index: number, clientId: number): boolean {
    for (;;) {
      const current = Atomics.load(this.words, index);
      if ((current & LOCK_OWNER_MASK) !== clientId) return false;
      const released = LOCK_OWNER_DIED | (current & LOCK_WAITERS);
      if (Atomics.compareExchange(this.words, index, current, released) === current) return true;
    }
  }
}
