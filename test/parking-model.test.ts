/**
 * The parking protocol, model-checked: every interleaving of the atomic steps of two or three parties and
 * the arbiter (test/model/parking-model.ts), on the lock word, the condvar's sequence word, the park
 * records, the queued counts and the kernels' wake mailboxes. H is the host's kernel (the arbiter's), G a
 * guest's. The mutants show the checker finds what each ordering point is there for.
 */
import { describe, expect, test } from "bun:test";
import { explore, type ModelOptions, ownerDiedOutcomes, type PartySpec } from "./model/parking-model.ts";

const locker = (domain: "H" | "G", extra: Partial<PartySpec> = {}): PartySpec => ({
  role: "locker",
  domain,
  ...extra,
});
const consumer = (domain: "H" | "G", extra: Partial<PartySpec> = {}): PartySpec => ({
  role: "consumer",
  domain,
  ...extra,
});
const producer = (domain: "H" | "G", extra: Partial<PartySpec> = {}): PartySpec => ({
  role: "producer",
  domain,
  ...extra,
});

const CORRECT: Record<string, ModelOptions> = {
  "two lockers of one kernel, two rounds each": {
    parties: [locker("H", { rounds: 2 }), locker("H", { rounds: 2 })],
  },
  "three lockers, two kernels": { parties: [locker("H"), locker("H"), locker("G")] },
  "a guest locker and a host locker, two rounds each": {
    parties: [locker("G", { rounds: 2 }), locker("H", { rounds: 2 })],
  },
  "condvar: consumer and producer on the host": { parties: [consumer("H"), producer("H")] },
  "condvar: consumer and producer in one guest": { parties: [consumer("G"), producer("G")] },
  "condvar: host consumer, guest producer": { parties: [consumer("H"), producer("G")] },
  "condvar: guest consumer, host producer": { parties: [consumer("G"), producer("H")] },
  "condvar: a host broadcasting to consumers in two kernels": {
    parties: [consumer("H"), consumer("G"), producer("H", { items: 2 })],
  },
  "condvar: a guest broadcasting to two host consumers": {
    parties: [consumer("H"), consumer("H"), producer("G", { items: 2 })],
  },
};

describe("parking protocol, every interleaving", () => {
  for (const [name, options] of Object.entries(CORRECT))
    test(name, () => {
      const result = explore(options);
      expect(result.violation).toBeUndefined();
      expect(result.states).toBeGreaterThan(100);
    }, 120_000);
});

describe("parking protocol with deaths (sleeps and arbiter waits may also time out, as slices and sweeps do)", () => {
  test("a holder dies while others spin or park in two kernels: nobody stuck", () => {
    expect(
      explore({ timeouts: true, parties: [locker("H", { dies: "holding" }), locker("H"), locker("G")] })
        .violation,
    ).toBeUndefined();
  }, 120_000);

  test("owner-died is told exactly once to the next taker, and never without a death", () => {
    const outcomes = ownerDiedOutcomes({
      timeouts: true,
      parties: [locker("H", { dies: "holding" }), locker("H"), locker("H")],
    });
    expect([...outcomes].sort()).toEqual(["died:marked:0", "died:taken:1", "lived:free:0"]);
  }, 120_000);

  test("a waker dies between its store and its wake: the waiter still finishes", () => {
    expect(
      explore({ timeouts: true, parties: [consumer("H"), producer("H", { dies: "before-wake" })] }).violation,
    ).toBeUndefined();
  });

  test("the same with no slice or sweep to fall back on: the arbiter's wake on death is what saves it", () => {
    // A notify under the lock wakes only at the unlock; a waker dying before that leaves the waiter to
    // the arbiter, which wakes the dead client's slots. Without that wake the waiter sleeps for good.
    const parties = [consumer("H"), producer("H", { dies: "before-wake" })];
    expect(explore({ parties }).violation).toBeUndefined();
    expect(explore({ parties, mutations: { arbiterSkipsDeathWake: true } }).violation).toBeDefined();
  });

  test("a waiter dies parked (its park record stays raised): the others still finish", () => {
    const options: ModelOptions = {
      timeouts: true,
      parties: [consumer("H", { dies: "parked" }), consumer("H"), producer("G", { items: 2 })],
    };
    expect(explore(options).violation).toBeUndefined();
  }, 120_000);
});

describe("the checker finds the bugs each ordering point prevents", () => {
  const pair = [consumer("H"), producer("H")];
  test("re-checking the word before announcing: a lost wake-up", () => {
    expect(explore({ parties: pair, mutations: { checkBeforeAnnounce: true } }).violation).toMatch(/^stuck/);
  });
  test("reading the mailbox after the last look at the word: a lost wake-up", () => {
    expect(explore({ parties: pair, mutations: { mailboxAfterCheck: true } }).violation).toMatch(/^stuck/);
  });
  test("a waker that ignores waiters queued in the arbiter strands them", () => {
    expect(explore({ parties: pair, mutations: { ignoreQueued: true } }).violation).toMatch(/^stuck/);
  });
  test("an arbiter that does not wake the host's sleepers for a guest's waker strands them", () => {
    expect(
      explore({ parties: [consumer("H"), producer("G")], mutations: { arbiterSkipsHost: true } }).violation,
    ).toMatch(/^stuck/);
  });
});
