/**
 * fig1-writer's last wait (src/guest/report-loops.ts): it frees its area only once the reader has taken
 * the last chunk, re-checking the flag byte each time it is woken (Mesa semantics: a wake-up is no proof
 * the condition holds; anyone holding the condition variable may notify it). Here a third client
 * broadcasts on the pair's condition variable while the writer waits for a reader that has not started:
 * the writer must go on waiting, and the reader that comes afterwards must still get the file.
 */
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { REPO } from "./helpers/paths.ts";
import { eventually, spawnBun } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("examples-writer-woken-early");

test("a writer woken by another client's broadcast before its reader came still waits for the reader", async () => {
  const input = join(suite.dir, "input");
  const output = join(suite.dir, "output");
  const data = crypto.getRandomValues(new Uint8Array(100));
  writeFileSync(input, data);
  const flags = ["--size", "4097", "--socket", suite.socket, "--region", suite.region];
  const writer = spawnBun([join(REPO, "examples/fig1-writer.ts"), input, ...flags]);
  let writerEnded = false;
  void writer.proc.exited.then(() => {
    writerEnded = true;
  });
  const areaThere = async () =>
    (await fetchStatus({ unix: suite.socket })).report.segments.some((segment) => segment.name === "fig1");
  await eventually(async () => writerEnded || (await areaThere()), 30_000, "the writer's area made");
  const other = await connect({ socket: suite.socket, region: suite.region, name: "broadcaster" });
  try {
    const cv = await other.condvar("fig1");
    // Twenty broadcasts, 50 ms apart: the writer, waiting, is woken by some.
    for (let round = 0; round < 20 && !writerEnded; round++) {
      await cv.acquire();
      cv.broadcast();
      cv.release();
      await Bun.sleep(50);
    }
  } finally {
    await other.close();
  }
  const reader = spawnBun([join(REPO, "examples/fig2-reader.ts"), output, String(data.length), ...flags]);
  const [sent, received] = await Promise.all([
    writer.events.next("sent", 30_000),
    reader.events.next("received", 30_000),
  ]);
  expect([sent.chunks, received.chunks]).toEqual([1, 1]);
  expect([await writer.exit(), await reader.exit()]).toEqual([0, 0]);
  expect(Buffer.compare(readFileSync(output), Buffer.from(data))).toBe(0);
}, 90_000);
