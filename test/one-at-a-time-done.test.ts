/**
 * When a call queued by src/transfer/one-at-a-time.ts stops counting as one that a callback is inside of,
 * on toy ends whose methods only run their callback: once its callback's promise settled, once its callback
 * threw, and once the call itself settled (a callback it did not await may still be running). A call from a
 * callback's leftover work made after that waits its turn, not refused as made from inside. And a call on
 * an end with nothing in flight starts at once, as it did before calls queued.
 */
import { expect, test } from "bun:test";
import { oneAtATime } from "../src/transfer/one-at-a-time.ts";

/** A promise and the function that resolves it. */
function gate(): { opened: Promise<void>; open: () => void } {
  let open = () => {};
  const opened = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { opened, open };
}

const outcome = (call: Promise<unknown>) =>
  call.then(
    () => "ran",
    (error: Error) => `refused: ${error.message}`,
  );

test("a call with nothing in flight starts at once, also after earlier calls have ended", async () => {
  const started: number[] = [];
  class End {
    readonly name = "eager";
    async receive(round: number): Promise<void> {
      started.push(round);
    }
  }
  oneAtATime(End.prototype, ["receive"]);
  const end = new End();
  for (let round = 1; round <= 3; round++) {
    const call = end.receive(round);
    expect(started).toEqual(Array.from({ length: round }, (_, index) => index + 1));
    await call;
  }
});

test("a call made after an async callback settled, while its call goes on, is queued, not refused", async () => {
  const { opened, open } = gate();
  class End {
    readonly name = "async-callback";
    async receive(consume: () => Promise<void>): Promise<void> {
      await consume();
      await opened; // the call goes on after its callback
    }
  }
  oneAtATime(End.prototype, ["receive"]);
  const end = new End();
  let later: Promise<string> | undefined;
  const made = gate();
  const first = end.receive(async () => {
    await Promise.resolve();
    // Leftover work of the callback, run once it settled.
    setTimeout(() => {
      later = outcome(end.receive(async () => {}));
      made.open();
    }, 0);
  });
  await made.opened;
  open();
  await first;
  expect(await later).toBe("ran");
});

test("a call made after a callback threw, while its call goes on, is queued, not refused", async () => {
  const { opened, open } = gate();
  class End {
    readonly name = "throwing-callback";
    async receive(consume: () => void): Promise<void> {
      try {
        consume();
      } catch {
        // the call recovers from its callback's throw and goes on
      }
      await opened;
    }
  }
  oneAtATime(End.prototype, ["receive"]);
  const end = new End();
  let later: Promise<string> | undefined;
  const made = gate();
  const first = end.receive(() => {
    setTimeout(() => {
      later = outcome(end.receive(() => {}));
      made.open();
    }, 0);
    throw new Error("the callback failed");
  });
  await made.opened;
  open();
  await first;
  expect(await later).toBe("ran");
});

test("a call made by a callback still running after its call settled is queued, not refused", async () => {
  const { opened, open } = gate();
  class End {
    readonly name = "unawaited-callback";
    async receive(consume: () => Promise<void>): Promise<void> {
      void consume(); // not awaited: the call settles with its callback still running
    }
  }
  oneAtATime(End.prototype, ["receive"]);
  const end = new End();
  let later: Promise<string> | undefined;
  await end.receive(async () => {
    await opened;
    later = outcome(end.receive(async () => {}));
  });
  open();
  while (later === undefined) await new Promise((resolve) => setImmediate(resolve));
  expect(await later).toBe("ran");
});
