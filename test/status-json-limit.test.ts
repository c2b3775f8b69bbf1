/**
 * A status report too large for one reply is refused naming a --limit that fits (src/host/status.ts
 * statusJson). Entries differ in size (names up to 1 KiB and more): the suggestion keeps room for the
 * first ones, which the cut keeps, being longer than the average.
 */
import { expect, test } from "bun:test";
import { isIvshError } from "../src/errors.ts";
import { statusJson } from "../src/host/status.ts";
import { frameBytes } from "../src/protocol/codec.ts";
import { MAX_FRAME_BYTES, messages } from "../src/protocol/messages.ts";
import type { StatusReport } from "../src/protocol/status-report.ts";

function report(names: string[]): StatusReport {
  const segments = names.map((name, id) => ({
    ...{ id, name, firstBlock: id, blockCount: 1, bytes: 4096, creator: 1 },
    ...{ holderCount: 0, holders: [] },
  }));
  return { segments, clients: [], vms: [], sync: [], transfers: [] } as unknown as StatusReport;
}

test("the --limit a refused status suggests fits, its first entries a quarter longer than the average", () => {
  // 600 segments: the first 300 named with 2500 characters, the rest with 1500 (1.25 MB in all).
  const names = Array.from({ length: 600 }, (_, index) => `${index}-`.padEnd(index < 300 ? 2500 : 1500, "n"));
  let message = "";
  try {
    statusJson(report(names));
  } catch (error) {
    if (!isIvshError(error, "InvalidArgument")) throw error;
    message = error.message;
  }
  const fits = Number(/--limit (\d+) fits/.exec(message)?.[1]);
  expect(fits).toBeGreaterThan(0);
  expect(() => statusJson(report(names.slice(0, fits)))).not.toThrow();
});

test("a report of exactly one reply's size is sent; one byte more is refused", () => {
  const overhead = frameBytes(messages.status.reply, { json: "" });
  const base = JSON.stringify(report(["x"])).length; // ASCII: characters are bytes
  const exact = "x".padEnd(1 + MAX_FRAME_BYTES - overhead - base, "x");
  expect(frameBytes(messages.status.reply, { json: statusJson(report([exact])) })).toBe(MAX_FRAME_BYTES);
  expect(() => statusJson(report([`${exact}x`]))).toThrow(/pass a smaller --limit/);
});
