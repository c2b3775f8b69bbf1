/**
 * The report's Fig. 1 / Fig. 2 loops on an arbiter whose client quota is the writer's whole area. The
 * writer's length segment (fig1.length, 9c110eb) takes a block of its own, made before the area: the area
 * that fit alone was then refused (QuotaExceeded, "client 1 already has 1 block", a segment the user never
 * asked for), as it was in a region with room for the area only (NoSpace). Without room for both, the
 * writer sends without publishing its length, as a writer from before it did.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, spawnBun } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
beforeAll(async () => {
  paths = testPaths("examples-area-quota");
  arbiter = await ArbiterProcess.start(paths, { blockSize: "4KiB", extra: ["--client-quota", "16KiB"] });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("a writer whose area is its whole client quota still sends the file", async () => {
  const bytes = 40_000; // three chunks of a 16 KiB area
  const input = join(paths.dir, "input");
  const output = join(paths.dir, "output");
  const sent = crypto.getRandomValues(new Uint8Array(bytes));
  await Bun.write(input, sent);
  const where = ["--socket", paths.socket, "--region", paths.region, "--size", "16384"];
  const writer = spawnBun([join(REPO, "examples/fig1-writer.ts"), input, ...where]);
  const reader = spawnBun([join(REPO, "examples/fig2-reader.ts"), output, String(bytes), ...where]);
  try {
    const writerCode = await writer.exit(30_000);
    // Its notice of a reader not come yet (2 s) may show on a loaded machine: no warning is the point.
    const said = (await writer.stderr).replace(/^fig1-writer: waiting for a reader .*\n/m, "");
    expect({ writerCode, said }).toEqual({ writerCode: 0, said: "" });
    expect(await reader.exit(30_000)).toBe(0);
    expect(Buffer.compare(readFileSync(output), Buffer.from(sent))).toBe(0);
  } finally {
    writer.proc.kill("SIGKILL");
    reader.proc.kill("SIGKILL");
  }
}, 90_000);
