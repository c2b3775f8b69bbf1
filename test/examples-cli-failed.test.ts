/**
 * `ivsh example fig1-writer` / `fig2-reader` (the CLI, which returns its exit code and lets the process
 * end once nothing is pending, unlike a script's top-level throw) failing mid-transfer: the end that failed
 * must exit, so its peer is told, not both wait for ever (the end's watch of its peer, report-presence.ts,
 * still looking, kept it alive).
 */
import { expect, test } from "bun:test";
import { statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { CLI } from "./helpers/paths.ts";
import { eventually, spawnBun } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("examples-cli-failed");
const flags = () => ["--size", "4097", "--socket", suite.socket, "--region", suite.region];

// Its write into /dev/full fails (ENOSPC) holding the area's lock: the reader must exit, which tells the
// writer its reader died.
test("ivsh example fig2-reader failing to write a chunk exits, and its writer is told", async () => {
  const bytes = 1 << 20;
  const input = join(suite.dir, "input-for-full");
  await Bun.write(input, new Uint8Array(bytes).fill(9));
  const reader = spawnBun([CLI, "example", "fig2-reader", "/dev/full", String(bytes), ...flags()]);
  const writer = spawnBun([CLI, "example", "fig1-writer", input, ...flags()]);
  // Liveness bounds only: without the fix neither ever exits ("late").
  expect(await reader.exit(30_000)).not.toBe(0);
  expect(await reader.stderr).toMatch(/ENOSPC|space/);
  expect(await writer.exit(30_000)).not.toBe(0);
  expect(await writer.stderr).toMatch(/the reader died holding the area.s lock/);
}, 120_000);

// Its file cut short mid-transfer, the writer fails (SourceChanged) holding the area's lock: it must
// exit, which tells the reader its writer died.
test("ivsh example fig1-writer whose file shrank exits, and its reader is told", async () => {
  const bytes = 32 << 20;
  const input = join(suite.dir, "input");
  const output = join(suite.dir, "output");
  await Bun.write(input, new Uint8Array(bytes).fill(7));
  const reader = spawnBun([CLI, "example", "fig2-reader", output, String(bytes), ...flags()]);
  const writer = spawnBun([CLI, "example", "fig1-writer", input, ...flags()]);
  await eventually(
    async () => (statSync(output, { throwIfNoEntry: false })?.size ?? 0) > 0,
    30_000,
    "the reader's first chunk",
  );
  truncateSync(input, 0);
  expect(await writer.exit(30_000)).not.toBe(0);
  expect(await writer.stderr).toContain("before the size it had");
  expect(await reader.exit(30_000)).not.toBe(0);
  expect(await reader.stderr).toMatch(/the writer died holding the area.s lock/);
}, 120_000);
