/**
 * A channel end's wait for a word to change (src/transfer/wait.ts), each step scripted on a slot of its
 * own: the parked flag's protocol (down after a park; never raised by a nap, so the peer sends no WAKE),
 * a peer that published its last word before it left, and an abort while parked, also with an arbiter
 * that answers nothing. What ends a wait (a departure, the caller's check, an abort) ends it in the phase
 * that sees it, spin, nap or park, and a wait that ended leaves nothing listening on its signal.
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

test("a park re-runs the caller's check at each slice's end: an overwrite found while parked ends the wait", async () => {
  let slices = 0;
  const { slot } = fakeSlot(async () => {
    slices++;
    await Bun.sleep(5); // a slice that ran out with the word unchanged
    return false;
  });
  // The caller's own word is found overwritten only once the wait has parked (past the spin's looks).
  const check = () => {
    if (slices > 0) throw new Error("our own counter was overwritten");
    return false;
  };
  const waiting = waitForChange({ slot, word: "head", seen: 0, parkedFlag: "receiverParked", check }).then(
    () => "ended",
    (error: Error) => error.message,
  );
  // A liveness bound: without the check at each slice, the wait parks for ever on a word nobody changes.
  const outcome = await Promise.race([waiting, Bun.sleep(10_000).then(() => "still waiting")]);
  expect(outcome).toBe("our own counter was overwritten");
}, 20_000);

test("a wait that ended lets go of its signal: a later abort wakes no word it no longer waits on", async () => {
  const { slot, words, wakes } = fakeSlot(async () => {
    Atomics.store(words, head, Atomics.load(words, head) + 1);
    return true;
  });
  const controller = new AbortController();
  // Two parks, as two chunks of one transfer, under the transfer's one signal.
  for (const seen of [0, 1])
    await waitForChange({
      slot,
      word: "head",
      seen,
      parkedFlag: "receiverParked",
      signal: controller.signal,
    });
  controller.abort();
  // Kept listening, each wait done would send the arbiter a wake of its own for the one abort.
  expect(wakes).toEqual([]);
});

test.each(["the peer's departure", "the caller's check", "an abort"])(
  "%s seen during a nap ends the wait there: it does not go on to park",
  async (what) => {
    const { slot, flagStores } = fakeSlot(async () => {
      throw new Error("a nap that saw what ends the wait must not park");
    });
    const controller = new AbortController();
    let napping = false;
    // Each becomes true only once the nap has begun, past the spin (which looks at the first two too).
    (slot as unknown as { throwIfWithdrawn: () => void }).throwIfWithdrawn = () => {
      napping = true;
      if (what === "an abort") controller.abort();
    };
    const departure = () =>
      what === "the peer's departure" && napping ? { owner: 7, died: true } : undefined;
    const waiting = waitForChange({
      slot,
      word: "head",
      seen: 0,
      parkedFlag: "receiverParked",
      peer: fakePeer(true, departure),
      signal: controller.signal,
      check: () => what === "the caller's check" && napping,
    }).then(
      () => "ended",
      (error: Error) => (isIvshError(error) ? error.code : error.message),
    );
    const expected = { "the peer's departure": "the peer was judged gone", "the caller's check": "ended" };
    expect(await waiting).toBe(expected[what as keyof typeof expected] ?? "Interrupted");
    // Parking after the nap raised the flag: a WAKE asked of a peer across a VM's NIC, and the nap's 200 ms lost.
    expect(flagStores).toEqual([]);
  },
);

test.each(["the peer's departure", "the caller's check"])(
  "%s seen during the spin ends the wait there: it does not go on to park",
  async (what) => {
    const { slot, flagStores } = fakeSlot(async () => {
      throw new Error("a spin that saw what ends the wait must not park");
    });
    const departure = () => (what === "the peer's departure" ? { owner: 7, died: true } : undefined);
    const outcome = await waitForChange({
      slot,
      word: "head",
      seen: 0,
      parkedFlag: "receiverParked",
      peer: fakePeer(false, departure),
      check: () => what === "the caller's check",
    }).then(
      () => "ended",
      (error: Error) => error.message,
    );
    expect(outcome).toBe(what === "the caller's check" ? "ended" : "the peer was judged gone");
    expect(flagStores).toEqual([]);
  },
);

test("an abort while parked sends no wake through a client closed meanwhile", async () => {
  const { slot, wakes } = fakeSlot(undefined, true);
  const controller = new AbortController();
  const waiting = waitForChange({
    slot,
    word: "head",
    seen: 0,
    parkedFlag: "receiverParked",
    signal: controller.signal,
  });
  await Bun.sleep(20); // past the spin: parked
  (slot.client as { isClosed: boolean }).isClosed = true;
  controller.abort();
  await expectRejection(waiting, "Interrupted", /wait on channel 'scripted'/);
  // A closed client has nobody parked to wake, nor a connection to send the wake on.
  expect(wakes).toEqual([]);
});
