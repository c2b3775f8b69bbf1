/**
 * What the arbiter watch of `guest send` / `recv` (src/commands/_arbiter-watch.ts) says once the end's
 * session is lost: nothing. The error that ends the wait says why; a line "waiting for the arbiter to come
 * back" in between sent the user to restart an arbiter that may well be running. A silent arbiter is said,
 * the end's --timeout named only in the wait for its peer. The client is scripted
 * and the watch's interval called by hand: nothing here waits on a clock.
 */
import { afterEach, expect, test } from "bun:test";
import { type ArbiterAway, watchArbiter } from "../src/commands/_arbiter-watch.ts";
import type { ChannelClient } from "../src/transfer/channel-client.ts";

const originals = { setInterval: globalThis.setInterval, clearInterval: globalThis.clearInterval };
afterEach(() => Object.assign(globalThis, originals));

/** Starts a watch of `client`, its interval's callback handed back instead of scheduled. */
function watched(client: object, peerWaitMs?: number) {
  let tick: () => void = () => {};
  let cleared = false;
  globalThis.setInterval = ((callback: () => void) => {
    tick = callback;
    return 1;
  }) as unknown as typeof setInterval;
  globalThis.clearInterval = (() => {
    cleared = true;
  }) as typeof clearInterval;
  const shown: (ArbiterAway | undefined)[] = [];
  const stop = watchArbiter(
    client as ChannelClient,
    { socket: "/run/ivsh-test.sock" },
    {
      arbiterAway: (away) => void shown.push(away),
    },
    peerWaitMs,
  );
  return { tick: () => tick(), shown, stop, cleared: () => cleared };
}

function scriptedClient() {
  return {
    lost: undefined as Error | undefined,
    arbiterLink: { greeted: true },
    wasFrozen: () => false,
    leaseInDoubt: () => false,
    leaseMs: 2000,
  };
}

test("a link that closed is said; a session lost is not (its error says it), and the line is restored", () => {
  const client = scriptedClient();
  const watch = watched(client);
  watch.tick();
  expect(watch.shown).toEqual([]); // greeted, answering: nothing to say
  client.arbiterLink.greeted = false;
  watch.tick();
  expect(watch.shown.map((away) => away?.line)).toEqual([
    expect.stringContaining("for the arbiter at /run/ivsh-test.sock to come back"),
  ]);
  client.lost = new Error("lease expired");
  watch.tick();
  watch.tick();
  expect(watch.shown.length).toBe(2);
  expect(watch.shown[1]).toBeUndefined();
  watch.stop();
  expect(watch.cleared()).toBe(true);
});

test("a session lost before the link closed is never said as the arbiter's absence", () => {
  const client = scriptedClient();
  const watch = watched(client);
  client.lost = new Error("lease expired");
  client.arbiterLink.greeted = false;
  watch.tick();
  expect(watch.shown).toEqual([]);
  watch.stop();
});

test("a silent arbiter is said, naming the end's --timeout only in the wait for its peer", () => {
  const client = { ...scriptedClient(), leaseInDoubt: () => true };
  const watch = watched(client, 2000);
  watch.tick();
  const [away] = watch.shown;
  expect(away?.line).toMatch(
    /which has stopped answering \(is it stopped or frozen\? resume or restart it, or Ctrl-C\)$/,
  );
  expect(away?.waitingForPeer).toContain(
    "this end gives up when its --timeout 2 s for the other end runs out, or Ctrl-C)",
  );
  watch.stop();
  const without = watched({ ...scriptedClient(), leaseInDoubt: () => true });
  without.tick();
  expect(without.shown[0]?.waitingForPeer).toBe(without.shown[0]?.line);
  without.stop();
});
