/**
 * The report's Fig. 1 / Fig. 2 loops given different --size: the reader must refuse the writer's area,
 * not count chunks of its own size through an area of another.
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./helpers/paths.ts";
import { spawnBun } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("examples-size");

// A reader given a larger area than the writer's read each chunk through the smaller area (subarray
// clamps), so its file missed a part of every chunk, and it said "received" all the bytes, exiting 0;
// given a smaller one, it kept part of each chunk and then waited for ever for chunks never sent.
test("a reader whose --size differs from the writer's says so, and writes no short file as received", async () => {
  const bytes = 3 * 4096 + 100;
  const input = join(suite.dir, "input");
  await Bun.write(input, crypto.getRandomValues(new Uint8Array(bytes)));
  const where = ["--socket", suite.socket, "--region", suite.region];
  for (const size of ["8193", "2049"]) {
    const output = join(suite.dir, `output-${size}`);
    const writer = spawnBun([join(REPO, "examples/fig1-writer.ts"), input, "--size", "4097", ...where]);
    const reader = spawnBun([
      join(REPO, "examples/fig2-reader.ts"),
      output,
      String(bytes),
      "--size",
      size,
      ...where,
    ]);
    const code = await reader.exit(30_000);
    const said = await reader.stderr;
    writer.proc.kill("SIGKILL"); // it waits for a reader of its area's size; no other is coming
    await writer.exit(30_000);
    expect(code).not.toBe(0);
    expect(said).toMatch(new RegExp(`size of ${size} bytes.*made the area 4097 bytes`));
    expect(existsSync(output) ? readFileSync(output).length : 0).toBe(0);
  }
}, 120_000);
