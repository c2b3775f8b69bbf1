/** WAKE is one-way by default: the arbiter answers it only when asked to, or when it fails. */
import { expect, test } from "bun:test";
import { decodeError, decodeFields, encodeFrame } from "../src/protocol/codec.ts";
import { FrameKind, messages, PROTOCOL_VERSION, SyncCreate, WIRE_MAGIC } from "../src/protocol/messages.ts";
import { SlotKind } from "../src/region/layout.ts";
import { exchangeRaw } from "./helpers/raw.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("wake");

function request(name: keyof typeof messages, requestId: number, fields: Record<string, number | string>) {
  return encodeFrame(FrameKind.request, messages[name].op, requestId, messages[name].request, fields);
}

test("a wake with reply 0 is not answered; with reply 1 it is; a failing one always is", async () => {
  const hello = { magic: WIRE_MAGIC, version: PROTOCOL_VERSION, clientName: "raw", pid: 1, sessionToken: "" };
  const { frames } = await exchangeRaw(
    suite.socket,
    [
      request("hello", 1, hello),
      request("syncOpen", 2, { name: "w", kind: SlotKind.condvar, create: SyncCreate.openOrCreate }),
      request("wake", 3, { slot: 0, word: 1, count: 1, reply: 0 }),
      request("wake", 4, { slot: 0, word: 1, count: 1, reply: 1 }),
      request("wake", 5, { slot: 63, word: 1, count: 1, reply: 0 }),
    ],
    500,
  );
  expect(frames.map((frame) => frame.requestId)).toEqual([1, 2, 4, 5]);
  expect(decodeFields(messages.wake.reply, frames[2]!.body, "wake")).toEqual({ woken: 0 });
  expect(decodeError(frames[3]!.body).code).toBe("NotHeld");
});
