/**
 * The queue that runs a channel end's calls one at a time (src/transfer/one-at-a-time.ts), on an end of its
 * own whose calls do nothing but run their callback, so that only the queue's own cost is measured.
 */
import { expect, test } from "bun:test";
import { oneAtATime } from "../src/transfer/one-at-a-time.ts";

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
