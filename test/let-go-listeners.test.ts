/**
 * A request's `letGo` signal (Transport.request, src/guest/pending.ts) outlives the request: the room wait
 * passes one signal to every status it asks, once a round (up to a second apart) for as long as its
 * roomWaitMs, which may be unbounded. A listener left on it for each request answered long ago grew with
 * every round (found in review of minor37): one answered, or ended by close(), leaves none.
 */

import { expect, test } from "bun:test";
import { getEventListeners } from "node:events";
import { connect } from "../src/guest/index.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("revn37-letgo-listeners");

test("a letGo signal keeps no listener for a request once it is answered, or its client closed", async () => {
  const client = await connect({ socket: suite.socket, region: suite.region, name: "letgo-listeners" });
  const letGo = new AbortController();
  try {
    for (let round = 0; round < 5; round++) await client.status(0, 0, letGo.signal);
    // Before: 5, one per status answered.
    expect(getEventListeners(letGo.signal, "abort")).toHaveLength(0);
    const inFlight = client.status(0, 0, letGo.signal).catch(() => undefined);
    expect(getEventListeners(letGo.signal, "abort")).toHaveLength(1); // kept while it is awaited
    await client.close();
    await inFlight;
    expect(getEventListeners(letGo.signal, "abort")).toHaveLength(0);
  } finally {
    await client.close();
  }
});
