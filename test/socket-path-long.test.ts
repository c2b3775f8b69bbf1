/**
 * A --socket longer than a Unix socket's address holds (107 bytes): no arbiter can listen there (`ivsh host`
 * refuses it, saying so), and the client said only "the system said EINVAL (start it with `ivsh host`...)".
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { runCli } from "./helpers/processes.ts";

let paths: TestPaths;
let socket: string;

beforeAll(() => {
  paths = testPaths("socket-long");
  socket = join(paths.dir, "s".repeat(120));
});
afterAll(() => paths?.cleanup());

test("status --socket with a path too long for a Unix socket says so, and what to do", async () => {
  const result = await runCli(["status", "--socket", socket]);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain(`since its path is ${Buffer.byteLength(socket)} bytes, over the 107`);
  expect(result.stderr).toContain("shorter --socket");
  expect(result.stderr).not.toContain("EINVAL");
  expect(result.stderr).not.toContain("start it with `ivsh host");
});

test("guest recv with such a --socket says the same, at once", async () => {
  writeFileSync(paths.region, Buffer.alloc(1 << 20));
  const result = await runCli(["guest", "recv", "--socket", socket, "--region", paths.region, "--out", "-"]);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain(`since its path is ${Buffer.byteLength(socket)} bytes, over the 107`);
});
