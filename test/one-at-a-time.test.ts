/**
 * The queue that runs a channel end's calls one at a time (src/transfer/one-at-a-time.ts), on an end of its
 * own whose calls do nothing but run their callback, so that only the queue's own cost is measured.
 */
import { expect, test } from "bun:test";
import { makesNoCalls, oneAtATime } from "../src/transfer/one-at-a-time.ts";

class End {
  readonly name = "toy";
  async receive(consume: () => unknown): Promise<number> {
    await consume();
    return 1;
  }
}
oneAtATime(End.prototype, ["receive"]);

test("a callback that makes the next call from a timer (a pump), chunk after chunk, costs the same per chunk: the calls it was made inside are not kept", async () => {
  const end = new End();
  const chunks = 200_000;
  const started = performance.now();
  await new Promise<void>((resolve, reject) => {
    let left = chunks;
    const pump = () => end.receive(() => void (--left > 0 ? setImmediate(pump) : resolve())).catch(reject);
    pump();
  });
  // Kept, each call copied the list of those before it: 200,000 chunks took minutes, not about a second.
  expect(performance.now() - started).toBeLessThan(30_000);
}, 60_000);

test("a callback marked makesNoCalls is handed to the call as it is, and queued calls still run in order", async () => {
  const seen: unknown[] = [];
  class Direct {
    readonly name = "direct";
    async receive(consume: (value: number) => unknown): Promise<void> {
      seen.push(consume);
      await consume(seen.length);
    }
  }
  oneAtATime(Direct.prototype, ["receive"]);
  const end = new Direct();
  const order: number[] = [];
  const marked = makesNoCalls((value: number) => void order.push(value));
  const unmarked = (value: number) => void order.push(value);
  await Promise.all([end.receive(marked), end.receive(unmarked), end.receive(marked)]);
  expect(order).toEqual([1, 2, 3]);
  // The marked one ran without a context around it (no wrapper); the other was wrapped, as before.
  expect([seen[0] === marked, seen[1] === unmarked, seen[2] === marked]).toEqual([true, false, true]);
});

test("a call made after the final one waits only until that has begun, not for its end: it is refused at once", async () => {
  let release = () => {};
  const gate = new Promise<void>((resolve) => {
    release = resolve;
  });
  class Sender {
    readonly name = "final";
    ended = false;
    async write(): Promise<void> {
      if (this.ended) throw new Error("the stream was ended");
    }
    async finish(): Promise<void> {
      this.ended = true;
      await gate; // the receiver's verdict, which may take long
    }
  }
  oneAtATime(Sender.prototype, ["write"], "finish");
  const end = new Sender();
  const events: string[] = [];
  const finishing = end.finish().then(() => events.push("finish settled"));
  const writing = end.write().then(
    () => events.push("write ran"),
    () => events.push("write refused"),
  );
  // The verdict comes later; a write held until then would settle after it.
  setTimeout(release, 50);
  await Promise.all([finishing, writing]);
  expect(events).toEqual(["write refused", "finish settled"]);
});
