/**
 * --hello-wait closes a connection that never says hello (test/malformed.test.ts); one that did is not
 * touched by it, however long it then stays quiet. A raw client, which does not reconnect by itself as the
 * library would: a close would show here as an error frame and a closed socket.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { FrameKind } from "../src/protocol/messages.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { rawClient } from "./helpers/raw.ts";

const HELLO_WAIT_MS = 300;
let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("hello-wait-after-hello");
  arbiter = await ArbiterProcess.start(paths, { extra: ["--hello-wait", `${HELLO_WAIT_MS}ms`] });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("a connection that said hello is still served well past --hello-wait", async () => {
  const client = await rawClient(paths.socket);
  await client.hello("quiet-after-hello");
  let closed = false;
  void client.closed.then(() => {
    closed = true;
  });
  await Bun.sleep(HELLO_WAIT_MS * 5); // past the hello wait: its timer has fired
  client.send("alloc", 2, { bytes: 0, blocks: 1, mode: 2, name: "" });
  const answer = await client.answer(2);
  expect(answer.kind).toBe(FrameKind.reply);
  expect(client.frames.map((frame) => frame.kind)).toEqual([FrameKind.reply, FrameKind.reply]);
  expect(closed).toBe(false);
  client.socket.end();
}, 30_000);
