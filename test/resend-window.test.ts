/**
 * Which request ids the arbiter takes for a re-send, answered from the session's reply cache (src/host/
 * dispatch.ts, sawRequestId): those at most RESEND_WINDOW (2^24) before the newest id it saw; one further
 * back is a new request (its id wrapped around) and runs. At the window's edge, a re-sent alloc gets its
 * cached reply, not a second run refused as a name already taken.
 */
import { expect, test } from "bun:test";
import { decodeError, decodeFields } from "../src/protocol/codec.ts";
import { FrameKind, messages } from "../src/protocol/messages.ts";
import { rawClient } from "./helpers/raw.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("resend-window");
const RESEND_WINDOW = 2 ** 24;

test("a request exactly 2^24 ids before the newest is a re-send, answered from the cache; one more back runs", async () => {
  const raw = await rawClient(suite.socket);
  try {
    await raw.hello("resender");
    const alloc = (requestId: number, name: string) =>
      raw.send("alloc", requestId, { bytes: 4096, blocks: 0, mode: 2, name });
    const segmentOf = async (requestId: number) => {
      const frame = await raw.answer(requestId);
      expect(frame.kind).toBe(FrameKind.reply);
      return decodeFields(messages.alloc.reply, frame.body, "alloc").segmentId;
    };
    alloc(2, "edge");
    const first = await segmentOf(2);
    const newest = 2 + RESEND_WINDOW;
    alloc(newest, "newest");
    await segmentOf(newest);
    raw.frames.length = 0; // the answers below are to ids answered before
    alloc(2, "edge"); // exactly the window before the newest: a re-send
    expect(await segmentOf(2)).toBe(first);
    // One id further back than the window (the newest is 3 + 2^24 now): a new request, run, its name taken.
    alloc(newest + 1, "newer");
    await segmentOf(newest + 1);
    raw.frames.length = 0;
    alloc(2, "edge");
    const refused = await raw.answer(2);
    expect(refused.kind).toBe(FrameKind.error);
    expect(decodeError(refused.body).code).toBe("AlreadyExists");
  } finally {
    raw.socket.end();
  }
}, 30_000);
