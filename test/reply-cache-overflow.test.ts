/**
 * A re-sent request whose effect survived an arbiter's kill -9 is answered from the reply cache, never run
 * twice (docs/protocol.md section 11). The cache holds a session's 64 newest replies; a client with more
 * mutating requests answered but unread (its replies queued in the arbiter when it was killed) re-sends
 * them all after the restart, and those past the 64 newest were run again: allocated twice. The arbiter
 * now stops reading a connection while 32 of its replies wait to be sent.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { fetchStatus } from "../src/guest/inspect.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually } from "./helpers/processes.ts";
import { rawClient } from "./helpers/raw.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
const ALLOCS = 2000;

beforeAll(async () => {
  paths = testPaths("reply-cache-overflow");
  arbiter = await ArbiterProcess.start(paths, { size: "64MiB", blockSize: "4KiB", lease: "20s" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/** A connection that collects every frame it reads, and tells when it closed. */
async function rawConnection() {
  const client = await rawClient(paths.socket);
  const hello = (sessionToken: string) => client.hello("raw", sessionToken, 10_000, "the hello reply");
  return { ...client, hello };
}

const allocRequest = { bytes: 0, blocks: 1, mode: 2, name: "" };

test("more than 64 mutating requests unanswered at a kill -9: each is run once after the resume", async () => {
  const first = await rawConnection();
  const { sessionToken } = await first.hello("");
  // The client stops reading: the arbiter's replies wait in its socket buffers and outbox.
  first.socket.pause();
  for (let id = 2; id < 2 + ALLOCS; id++) first.send("alloc", id, allocRequest);
  const segments = async () => (await fetchStatus({ unix: paths.socket }, 0)).report.totals.segments;
  // Until the arbiter stops reading this client: its replies fill the socket, then 32 wait in the arbiter.
  // (Before the fix it went on, all 2000 allocs done with most replies queued in the arbiter.)
  let seen = -1;
  const settled = async () => {
    const now = await segments();
    const still = now === seen && now > 64;
    seen = now;
    return still || now === ALLOCS;
  };
  await eventually(settled, 30_000, "the arbiter to stop reading the client that reads nothing");
  await arbiter.kill9();
  await arbiter.restart();
  // What reached this end before the arbiter died is read; the rest is unanswered.
  first.socket.resume();
  await first.closed;
  const answered = new Set(first.frames.map((frame) => frame.requestId));
  const unanswered = [...Array(ALLOCS).keys()].map((index) => index + 2).filter((id) => !answered.has(id));
  expect(unanswered.length).toBeGreaterThan(64);

  const second = await rawConnection();
  await second.hello(sessionToken);
  for (const id of unanswered) second.send("alloc", id, allocRequest);
  await eventually(
    async () => second.frames.length === 1 + unanswered.length,
    30_000,
    "an answer to every re-sent alloc",
  );
  expect(await segments()).toBe(ALLOCS);
  second.socket.end();
}, 120_000);
