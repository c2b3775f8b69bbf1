/**
 * A client checks that the region it mapped is the one its arbiter serves: with two arbiters of the same
 * size (both freshly started, so both at epoch 1), one's --socket and the other's --region must be refused
 * before anything is written, or the client would corrupt a transfer the other arbiter is running.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { DEFAULT_REGION } from "../src/defaults.ts";
import { connect } from "../src/guest/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { testUnless } from "./helpers/tools.ts";

let first: TestPaths;
let second: TestPaths;
const arbiters: ArbiterProcess[] = [];

beforeAll(async () => {
  first = testPaths("match-a");
  second = testPaths("match-b");
  arbiters.push(await ArbiterProcess.start(first), await ArbiterProcess.start(second));
});
afterAll(async () => {
  for (const arbiter of arbiters) await arbiter.stop();
  first?.cleanup();
  second?.cleanup();
});

test("one arbiter's socket with another's region of the same size is refused, naming both pids", async () => {
  const mixed = connect({ socket: second.socket, region: first.region });
  await expectRejection(
    mixed,
    "RegionInvalid",
    /served by the arbiter with pid \d+, and the one at .* is pid \d+/,
  );
  // Each pair on its own still connects, and nothing of the refused client is left in either arbiter.
  for (const paths of [first, second]) {
    const client = await connect({ socket: paths.socket, region: paths.region, name: "matched" });
    const { clients } = await client.status();
    expect(clients.map((client) => client.name)).toEqual(["matched"]);
    await client.close();
  }
});

testUnless(
  existsSync(DEFAULT_REGION)
    ? `${DEFAULT_REGION} exists on this machine, and a client given no region maps it`
    : undefined,
  "a client given only the socket asks the arbiter for its region, and connects to it",
  async () => {
    const client = await connect({ socket: second.socket, name: "told-the-socket" });
    expect(client.region.source).toBe(second.region);
    await client.close();
  },
);

testUnless(
  existsSync(DEFAULT_REGION)
    ? `${DEFAULT_REGION} exists on this machine, and a client given no region maps it`
    : undefined,
  "asking a stopped arbiter for its region ends as soon as the caller's signal aborts",
  async () => {
    arbiters[1]!.spawned.proc.kill("SIGSTOP");
    try {
      const abort = new AbortController();
      const connecting = connect({ socket: second.socket, signal: abort.signal });
      setTimeout(() => abort.abort(), 300);
      await expectRejection(connecting, "Interrupted", /connect to the arbiter/);
    } finally {
      arbiters[1]!.spawned.proc.kill("SIGCONT");
    }
  },
);
