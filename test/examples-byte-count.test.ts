/**
 * The report's Fig. 1 / Fig. 2 loops given a reader BYTES other than the file's size. With as many chunks
 * the flag byte, which carries no length, hid it: the reader wrote its own count (the file cut short, or
 * its last chunk padded with the chunk before's stale bytes) and said it received them, exiting 0, as did
 * the writer. With another number of chunks one end ended and the other was told only once it waited
 * (PeerGone, 550aec7), a part of the file written. The writer now publishes its length beside the area,
 * and the reader refuses another count before it touches OUT, whichever of them starts first.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./helpers/paths.ts";
import { spawnBun } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("examples-bytes");

test("a reader told another byte count than the file's refuses it at once and keeps OUT", async () => {
  const bytes = 4096 + 1000; // two chunks of a 4097-byte area
  const input = join(suite.dir, "input");
  await Bun.write(input, crypto.getRandomValues(new Uint8Array(bytes)));
  const where = ["--socket", suite.socket, "--region", suite.region, "--size", "4097"];
  // As many chunks, fewer and more: the reader started after the writer, then before it.
  for (const [told, readerFirst] of [
    [bytes - 500, false],
    [bytes + 500, false],
    [2048, true],
    [40_000, true],
  ] as const) {
    const output = join(suite.dir, `output-${told}`);
    await Bun.write(output, "kept");
    const start = (script: string, ...args: string[]) =>
      spawnBun([join(REPO, "examples", script), ...args, ...where]);
    const early = readerFirst
      ? start("fig2-reader.ts", output, String(told))
      : start("fig1-writer.ts", input);
    const late = readerFirst ? start("fig1-writer.ts", input) : start("fig2-reader.ts", output, String(told));
    const [reader, writer] = readerFirst ? [early, late] : [late, early];
    const code = await reader.exit(30_000);
    const said = await reader.stderr;
    writer.proc.kill("SIGKILL"); // it waits for a reader of its file's size, as for one of its area's
    await writer.exit(30_000);
    expect(code).not.toBe(0);
    expect(said).toContain(`the writer sends ${bytes} bytes, not the ${told} this reader was told`);
    expect(readFileSync(output, "utf8")).toBe("kept");
  }
}, 120_000);
