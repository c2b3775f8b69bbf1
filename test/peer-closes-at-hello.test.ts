/**
 * A Unix socket whose listener closes every connection before answering (a program that is not an arbiter,
 * or an arbiter that is stopping): the client said only "Failed to greet the arbiter since the connection
 * closed during hello", naming neither the socket nor what to do.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { expectOneLine, runHost } from "./helpers/host-run.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { runCli } from "./helpers/processes.ts";

let paths: TestPaths;
let socket: string;
let server: ReturnType<typeof Bun.listen> | undefined;

beforeAll(() => {
  paths = testPaths("peer-closes");
  socket = join(paths.dir, "closes.sock");
  // It reads the hello, then hangs up without a word.
  server = Bun.listen({ unix: socket, socket: { data: (peer) => void peer.end() } });
});
afterAll(() => {
  server?.stop(true);
  paths?.cleanup();
});

test("status --socket to a listener that closes at once: names the socket and what to do", async () => {
  const result = await runCli(["status", "--socket", socket]);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain(`Failed to greet the arbiter at ${socket} since the connection closed`);
  expect(result.stderr).toContain("--socket");
  expect(result.stderr).toContain("what listens there is not an ivsh arbiter");
  expect(result.stderr).not.toContain("guestfwd");
});

test("status --json says the same in its error", async () => {
  const result = await runCli(["status", "--json", "--socket", socket]);
  expect(result.exitCode).toBe(1);
  const { error } = JSON.parse(result.stdout) as { error: { code: string; message: string } };
  expect(error.code).toBe("ConnectionLost");
  expect(error.message).toContain(`at ${socket} since`);
});

test("guest recv to it gives up after --timeout, naming the socket and what to do", async () => {
  writeFileSync(paths.region, Buffer.alloc(1 << 20));
  const result = await runCli([
    "guest",
    "recv",
    "--socket",
    socket,
    "--region",
    paths.region,
    "--timeout",
    "2s",
    "--out",
    join(paths.dir, "out"),
  ]);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain(`Failed to greet the arbiter at ${socket} since`);
  expect(result.stderr).toContain("--socket");
  // A Unix socket's hint, not a VM's guestfwd one (which names `--socket SOCKET` too).
  expect(result.stderr).toContain("what listens there is not an ivsh arbiter");
  expect(result.stderr).not.toContain("guestfwd");
});

test("ivsh host on it: refused, saying something listens there that closed without answering a hello", async () => {
  const { exitCode, stderr } = await runHost({
    region: join(paths.shmDir, "closes.region"),
    socket,
    state: join(paths.dir, "closes.state"),
  });
  expect(exitCode).toBe(1);
  expectOneLine(stderr, "it closed the connection without answering a hello");
});
