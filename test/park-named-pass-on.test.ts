/**
 * A lock() found held by its own client after a park passes on the wake-up it may have taken
 * (src/guest/park-named.ts's heldAlready): a wake if the lock is free, the waiters bit if it is taken, and
 * nothing once close() has begun (the arbiter, reading the goodbye, wakes every waiter; the client's
 * mailbox and link are going). On a client double: its lock word and a parker that counts its wakes.
 */
import { expect, test } from "bun:test";
import { heldAlready, throwIfLockAborted } from "../src/guest/park-named.ts";
import type { Parker, ParkSite } from "../src/guest/parking.ts";
import { LOCK_WAITERS } from "../src/region/layout.ts";

function client(word: number, isClosing: boolean) {
  const words = new Int32Array([0, word]);
  const wakes: number[] = [];
  const parker = { wake: (_site: ParkSite, count: number) => wakes.push(count) } as unknown as Parker;
  const site = { wordIndex: 1 } as ParkSite;
  return { parked: { client: { parker, isClosing, words }, site }, words, wakes };
}

test("a free lock: one waiter woken", () => {
  const free = client(0, false);
  expect(heldAlready("board", free.parked).message).toContain("this client holds it already");
  expect({ wakes: free.wakes, word: free.words[1] }).toEqual({ wakes: [1], word: 0 });
});

test("a taken lock: no wake, the waiters bit set for its holder's unlock", () => {
  const taken = client(7, false);
  heldAlready("board", taken.parked);
  expect({ wakes: taken.wakes, word: taken.words[1] }).toEqual({ wakes: [], word: 7 | LOCK_WAITERS });
});

test("once close() has begun: neither a wake nor the bit", () => {
  for (const word of [0, 7]) {
    const closing = client(word, true);
    heldAlready("board", closing.parked);
    expect({ wakes: closing.wakes, word: closing.words[1] }).toEqual({ wakes: [], word });
  }
});

test("a lock() whose signal has not aborted passes nothing on: no wake, no bit", () => {
  for (const signal of [undefined, new AbortController().signal])
    for (const word of [0, 7]) {
      const going = client(word, false);
      throwIfLockAborted(going.parked.client, going.parked.site, signal, "board");
      // Before (passed on whatever the signal): a free lock's waiter woken, a taken one's bit set.
      expect({ wakes: going.wakes, word: going.words[1] }).toEqual({ wakes: [], word });
    }
});

test("a lock() whose signal aborted passes the wake-up on, then throws the interrupt", () => {
  const stop = new AbortController();
  stop.abort();
  const free = client(0, false);
  expect(() => throwIfLockAborted(free.parked.client, free.parked.site, stop.signal, "board")).toThrow(
    "lock 'board'",
  );
  expect(free.wakes).toEqual([1]);
});
