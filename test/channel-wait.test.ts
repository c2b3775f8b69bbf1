/**
 * A channel end's wait for a word to change (src/transfer/wait.ts), each step scripted on a slot of its
 * own: the parked flag's protocol (down after a park; never raised by a nap, so the peer sends no WAKE),
 * a peer that published its last word before it left, and an abort while parked, also with an arbiter
 * that answers nothing.
 */
import { expect, test } from "bun:test";
import { isIvshError } from "../src/errors.ts";
import { ChannelWord, WAKE_ALL } from "../src/region/layout.ts";
import type { Departure, Peer } from "../src/transfer/peer.ts";
import type { ChannelSlot, ChannelWordName } from "../src/transfer/slot.ts";
import { waitForChange } from "../src/transfer/wait.ts";
import { expectRejection } from "./helpers/errors.ts";

/**
 * A slot over words of its own; `waitWord` is what the arbiter does with a park (by default it answers
 * only a wake, as an arbiter does; `silent`, not even that: an arbiter stopped with SIGSTOP).
 */
function fakeSlot(waitWord?: (word: number, seen: number) => Promise<boolean>, silent = false) {
  const words = new Int32Array(16);
  const flagStores: number[] = [];
  const wakes: [ChannelWordName, number][] = [];
  const parked: ((woken: boolean) => void)[] = [];
  const park = () => new Promise<boolean>((resolve) => void parked.push(resolve));
  const index = (word: ChannelWordName) => ChannelWord[word];
  const slot = {
    channel: "scripted",
    slot: 0,
    words,
    index,
    load: (word: ChannelWordName) => Atomics.load(words, index(word)),
    store(word: ChannelWordName, value: number) {
      if (word === "receiverParked") flagStores.push(value);
      Atomics.store(words, index(word), value);
    },
    compareExchange: (word: ChannelWordName, expected: number, value: number) =>
      Atomics.compareExchange(words, index(word), expected, value),
    wake(word: ChannelWordName, count = 1) {
      wakes.push([word, count]);
      if (!silent) for (const resolve of parked.splice(0)) resolve(true);
    },
    throwIfLost() {},
    throwIfWithdrawn() {},
    client: {
      isClosed: false,
      keepAlive() {},
      waitWord: (_slot: number, word: number, seen: number) => (waitWord ?? park)(word, seen),
    },
  };
  return { slot: slot as unknown as ChannelSlot, words, flagStores, wakes };
}

function fakePeer(inOtherVm: boolean, departure: () => Departure | undefined = () => undefined): Peer {
  return {
    inOtherVm: () => inOtherVm,
    departure,
    goneError: async () => new Error("the peer was judged gone"),
  } as unknown as Peer;
}

const head = ChannelWord.head;

test("a nap for a peer in another VM sees the word change without ever raising the parked flag", async () => {
  const { slot, words, flagStores } = fakeSlot(async () => {
    throw new Error("a nap that saw the change must not park");
  });
  // Past the spin, within the nap: the peer's change lands as the nap's first look begins. Not from a
  // timer (20 ms against the nap's 200 ms), which a stall of the loaded machine let the nap outlast.
  (slot as unknown as { throwIfWithdrawn: () => void }).throwIfWithdrawn = () =>
    Atomics.store(words, head, 1);
  await waitForChange({ slot, word: "head", seen: 0, parkedFlag: "receiverParked", peer: fakePeer(true) });
  // Raised, the flag would have the peer send a WAKE across the VM's NIC for the change.
  expect(flagStores).toEqual([]);
});

test("a park that ends with the change leaves the parked flag down: the peer's next change sends no WAKE", async () => {
  const { slot, words, flagStores } = fakeSlot(async () => {
    Atomics.store(words, head, 1);
    return true;
  });
  await waitForChange({ slot, word: "head", seen: 0, parkedFlag: "receiverParked", peer: fakePeer(false) });
  expect(flagStores[0]).toBe(1);
  expect(flagStores.at(-1)).toBe(0);
  expect(Atomics.load(words, ChannelWord.receiverParked)).toBe(0);
});

test("a peer that published the word before it left: the wait ends with the change, not PeerGone", async () => {
  const { slot, words } = fakeSlot();
  // The peer's last store lands between our look at the word and our look at its lock word.
  const departure = () => {
    Atomics.store(words, head, 1);
    return { owner: 0, died: false };
  };
  await waitForChange({
    slot,
    word: "head",
    seen: 0,
    parkedFlag: "receiverParked",
    peer: fakePeer(false, departure),
  });
  expect(Atomics.load(words, head)).toBe(1);
});

test("an abort while parked wakes every waiter on the word, and ends the wait as Interrupted", async () => {
  const { slot, wakes } = fakeSlot();
  const controller = new AbortController();
  const waiting = waitForChange({
    slot,
    word: "head",
    seen: 0,
    parkedFlag: "receiverParked",
    signal: controller.signal,
  });
  await Bun.sleep(20); // past the spin: parked
  controller.abort();
  await expectRejection(waiting, "Interrupted", /wait on channel 'scripted'/);
  // The arbiter's WAIT ends at once instead of at its slice's end.
  expect(wakes).toEqual([["head", WAKE_ALL]]);
});

test("an abort ends a park the arbiter never answers (stopped): not only once the client gives the arbiter up", async () => {
  // The fake's park never returns and its wake reaches nobody, as with an arbiter under SIGSTOP.
  const { slot } = fakeSlot(undefined, true);
  const controller = new AbortController();
  const waiting = waitForChange({
    slot,
    word: "head",
    seen: 0,
    parkedFlag: "receiverParked",
    signal: controller.signal,
  }).catch((error: unknown) => error);
  await Bun.sleep(20);
  controller.abort();
  // A liveness bound far below the 30 s a client takes to give up a silent arbiter.
  const outcome = await Promise.race([waiting, Bun.sleep(10_000).then(() => "still waiting")]);
  expect(isIvshError(outcome, "Interrupted") ? "Interrupted" : outcome).toBe("Interrupted");
});
