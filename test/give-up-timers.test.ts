/**
 * What a wait given up on or answered (src/guest/give-up.ts) leaves behind, in-process: its timer is
 * cleared and its listener on the caller's signal removed once it settled, however it settled (a timer left
 * holds the process alive for the whole time allowed after the answer came; a listener left grows with
 * every request made under a long-lived signal). An answer given up on that fails later
 * (its link closed) is no unhandled rejection (a child Bun, whose exit code says so).
 */
import { afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import { answerWithin, withTimeout } from "../src/guest/give-up.ts";
import { expectRejection } from "./helpers/errors.ts";
import { countedSignal, restoreTimers, timersCleared, watchTimers } from "./helpers/leftovers.ts";
import { REPO } from "./helpers/paths.ts";

const endpoint = { unix: "/run/ivsh/scripted.sock" };
const never = () => new Promise<never>(() => {});
const LONG_MS = 600_000;

afterEach(restoreTimers);

test("an answered wait clears its timer and removes its listener on the signal, as does a failed answer", async () => {
  const { signal, listening } = countedSignal();
  watchTimers();
  const answer = await answerWithin(endpoint, Promise.resolve(7), LONG_MS, signal, ["ask", "ask x"], "none");
  expect(answer).toBe(7);
  const failed = answerWithin(
    endpoint,
    Promise.reject(new Error("link closed")),
    LONG_MS,
    signal,
    ["ask", "ask y"],
    "none",
  );
  await expect(failed).rejects.toThrow("link closed");
  expect({ timers: timersCleared(), listening: listening() }).toEqual({
    timers: [true, true],
    listening: 0,
  });
});

test("a wait given up on (its time passed, or its signal aborted) clears its timer and listener too", async () => {
  const { controller, signal, listening } = countedSignal();
  watchTimers();
  await expectRejection(
    answerWithin(endpoint, never(), 10, signal, ["ask", "ask z"], "none"),
    "ArbiterUnreachable",
  );
  const aborted = answerWithin(endpoint, never(), LONG_MS, signal, ["ask", "ask w"], "none");
  controller.abort();
  await expectRejection(aborted, "Interrupted", /ask w/);
  expect({ timers: timersCleared(), listening: listening() }).toEqual({
    timers: [true, true],
    listening: 0,
  });
});

test("withTimeout clears its timer once the promise settled", async () => {
  watchTimers();
  expect(await withTimeout(Promise.resolve("open"), LONG_MS)).toBe("open");
  await expect(withTimeout(Promise.reject(new Error("refused")), LONG_MS)).rejects.toThrow("refused");
  await expect(withTimeout(never(), 10)).rejects.toThrow("there was no answer within 10 ms");
  expect(timersCleared()).toEqual([true, true, true]);
});

test("an answer given up on that fails later is no unhandled rejection (a child Bun)", async () => {
  // Given up on before the race began (its signal aborted already), nothing else handles its failure.
  const script = `
    import { answerWithin } from ${JSON.stringify(join(REPO, "src/guest/give-up.ts"))};
    for (const signal of [undefined, AbortSignal.abort()]) {
      let fail;
      const answer = new Promise((_, reject) => { fail = reject; });
      try {
        await answerWithin({ unix: "/x" }, answer, 10, signal, ["ask", "ask v"], "none");
      } catch (error) {
        console.log(error.code);
      }
      fail(new Error("link closed"));
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    console.log("lived on");
  `;
  const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  const [out, err, code] = await Promise.all([
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
    child.exited,
  ]);
  expect({ out, code, err }).toEqual({
    out: "ArbiterUnreachable\nInterrupted\nlived on\n",
    code: 0,
    err: "",
  });
});
