/**
 * The edges of a lock()'s bound (src/guest/wait-options.ts): a timeout of 0 ms is a try-lock (taken if
 * free, Timeout if held elsewhere), not a refusal; an array passed as the options is refused, naming it,
 * rather than read as options holding no field (an empty array was a wait for ever).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, spawnFixture } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("wait-bound-edges");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

// biome-ignore lint/suspicious/noExplicitAny: a caller without types passes anything
const untyped = (options: unknown) => options as any;

test("a 0 ms bound takes a free lock and times out at once on a held one; an array of options is refused", async () => {
  const holder = spawnFixture("holder", clientConfig(paths, { mutex: "edges-held", segment: "edges-seg" }));
  const client = await connect({ socket: paths.socket, region: paths.region });
  try {
    const free = await client.mutex("edges-free");
    expect(await free.lock(0)).toBe("acquired");
    free.unlock();
    expect(await free.lock({ timeoutMs: 0 })).toBe("acquired");
    free.unlock();

    await holder.events.next("holding");
    const held = await client.mutex("edges-held");
    await expectRejection(held.lock(0), "Timeout");
    await expectRejection(held.lock({ timeoutMs: 0 }), "Timeout");
    await expectRejection(held.lock(untyped([100])), "InvalidArgument", /is an array/);
    await expectRejection(
      held.lock(untyped([])),
      "InvalidArgument",
      /lock 'edges-held' since its argument is an array, not \{ timeoutMs, signal \}/,
    );
  } finally {
    holder.proc.kill("SIGKILL");
    await holder.exit();
    await client.close();
  }
}, 60_000);
