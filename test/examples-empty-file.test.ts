/**
 * The report's loops (src/guest/report-loops.ts) with an empty file, which fig2-reader accepts (a byte
 * count of 0). The writer counted no chunk to hand over, so it freed its area at once and ended: a reader
 * not yet looking at that moment (the reader may start first, or second) polled for an area that was gone
 * and waited for ever. Here the reader starts once the writer's area is there or the writer has ended,
 * whichever comes first: both must end, 0 bytes moved.
 */
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fetchStatus } from "../src/guest/inspect.ts";
import { REPO } from "./helpers/paths.ts";
import { eventually, spawnBun } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("examples-empty-file");

/** Whether the arbiter has a segment named `name`. */
async function segmentThere(name: string): Promise<boolean> {
  const { report } = await fetchStatus({ unix: suite.socket });
  return report.segments.some((segment) => segment.name === name);
}

test("an empty file is sent to a reader told 0 bytes that starts after the writer: both end", async () => {
  const input = join(suite.dir, "empty-input");
  const output = join(suite.dir, "empty-output");
  writeFileSync(input, "");
  writeFileSync(output, "left from before");
  const flags = ["--socket", suite.socket, "--region", suite.region];
  const writer = spawnBun([join(REPO, "examples/fig1-writer.ts"), input, ...flags]);
  let writerEnded = false;
  void writer.proc.exited.then(() => {
    writerEnded = true;
  });
  await eventually(
    async () => writerEnded || (await segmentThere("fig1")),
    30_000,
    "the writer's area made, or the writer ended",
  );
  const reader = spawnBun([join(REPO, "examples/fig2-reader.ts"), output, "0", ...flags]);
  const [sent, received] = await Promise.all([
    writer.events.next("sent", 30_000),
    reader.events.next("received", 30_000),
  ]);
  expect(received.bytes).toBe(0);
  expect(sent.chunks).toBe(received.chunks);
  expect([await writer.exit(), await reader.exit()]).toEqual([0, 0]);
  expect(readFileSync(output, "utf8")).toBe("");
}, 90_000);
