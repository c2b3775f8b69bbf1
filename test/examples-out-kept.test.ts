/**
 * fig2-reader writes OUT only once it has the writer's area: a reader that cannot reach the arbiter, or
 * is refused the area, leaves an existing OUT as it was (as one refused its arguments does).
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync, renameSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, REPO } from "./helpers/paths.ts";
import { spawnBun } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { waitForSize } from "./helpers/transfer.ts";

const suite = sharedArbiter("examples-out");

// OUT was opened ("w": emptied) before connecting, so `fig2-reader data.bin N` with no arbiter running
// lost the user's data.bin.
test("a reader that cannot connect leaves an existing OUT as it was", async () => {
  const output = join(suite.dir, "kept-no-arbiter");
  writeFileSync(output, "the user's data");
  const where = ["--socket", join(suite.dir, "no-arbiter.sock"), "--region", suite.region];
  const reader = spawnBun([join(REPO, "examples/fig2-reader.ts"), output, "10", ...where]);
  expect(await reader.exit(30_000)).not.toBe(0);
  expect(await reader.stderr).toMatch(/ArbiterUnreachable|no socket exists/);
  expect(readFileSync(output, "utf8")).toBe("the user's data");
}, 60_000);

test("a reader refused the writer's area (another size) leaves an existing OUT as it was", async () => {
  const input = join(suite.dir, "input");
  const output = join(suite.dir, "kept-other-size");
  writeFileSync(input, "0123456789");
  writeFileSync(output, "the user's data");
  const where = ["--socket", suite.socket, "--region", suite.region];
  const writer = spawnBun([join(REPO, "examples/fig1-writer.ts"), input, "--size", "4097", ...where]);
  const reader = spawnBun([join(REPO, "examples/fig2-reader.ts"), output, "10", "--size", "8193", ...where]);
  const code = await reader.exit(30_000);
  writer.proc.kill("SIGKILL"); // it waits for a reader of its area's size; no other is coming
  await writer.exit(30_000);
  expect(code).not.toBe(0);
  expect(await reader.stderr).toMatch(/made the area 4097 bytes/);
  expect(readFileSync(output, "utf8")).toBe("the user's data");
}, 60_000);

// Found by a trial: `ivsh example fig2-reader out N` with no arbiter running left an empty `out` behind.
test("a reader that cannot connect leaves no OUT of its own making behind", async () => {
  const output = join(suite.dir, "never-made");
  const where = ["--socket", join(suite.dir, "no-arbiter.sock"), "--region", suite.region];
  const reader = spawnBun([CLI, "example", "fig2-reader", output, "10", ...where]);
  expect(await reader.exit(30_000)).not.toBe(0);
  expect(await reader.stderr).toMatch(/no socket exists/);
  expect(existsSync(output)).toBe(false);
}, 60_000);

// Found by a review: the reader removed whatever empty file was at OUT when it failed, though another
// had put it there in place of the one the reader made (moved away) while the reader waited for its writer.
test("a reader that fails removes no OUT put in place of the one it made", async () => {
  const output = join(suite.dir, "replaced");
  const input = join(suite.dir, "input-replaced");
  writeFileSync(input, "0123456789");
  const where = ["--socket", suite.socket, "--region", suite.region];
  const reader = spawnBun([CLI, "example", "fig2-reader", output, "10", "--size", "8193", ...where]);
  await waitForSize(output, 0, 30_000); // made: it waits for the writer's area now
  renameSync(output, `${output}.moved`);
  writeFileSync(output, ""); // someone else's, empty
  const writer = spawnBun([join(REPO, "examples/fig1-writer.ts"), input, "--size", "4097", ...where]);
  const code = await reader.exit(30_000);
  writer.proc.kill("SIGKILL"); // it waits for a reader of its area's size; no other is coming
  await writer.exit(30_000);
  expect(code).not.toBe(0);
  expect(await reader.stderr).toMatch(/made the area 4097 bytes/);
  expect(existsSync(output)).toBe(true);
}, 90_000);

// Found by a review: OUT a symbolic link to a file not made yet was refused ENOENT once OUT was opened
// O_EXCL first (which does not follow it); the open without O_EXCL makes the file it names, as before.
test("a reader given a link to a file not made yet opens it", async () => {
  const output = join(suite.dir, "link-out");
  symlinkSync(join(suite.dir, "link-target"), output);
  const where = ["--socket", join(suite.dir, "no-arbiter.sock"), "--region", suite.region];
  const reader = spawnBun([CLI, "example", "fig2-reader", output, "10", ...where]);
  expect(await reader.exit(30_000)).not.toBe(0);
  const said = await reader.stderr;
  expect(said).not.toContain("no such file or directory");
  expect(said).toMatch(/no socket exists/);
}, 60_000);
