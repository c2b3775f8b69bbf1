/**
 * A reader of ivsh's output that exits first (`ivsh status | head -1`, `ivsh --help | true`): what it
 * did not read is not an error of ivsh's (as src/log.ts `writeStandard` has it), so no stack trace nor
 * the runtime's crash banner, and the exit code is the command's own. Each case is a process whose
 * stdout (or stderr) is a pipe the test closed before the process wrote to it.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { closeSync, constants, openSync, readFileSync, renameSync, rmSync } from "node:fs";
import { join } from "node:path";
import { setNonBlocking } from "../src/ffi/descriptor-flags.ts";
import { type Client, connect } from "../src/guest/index.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { eventually, livenessBoundMs } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testWithTool } from "./helpers/tools.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("closed-reader");
});
afterAll(() => paths?.cleanup());

/** Runs `ivsh ARGS` with its `closed` output a pipe whose reader is gone; returns its exit code and the other output. */
async function withReaderGone(args: string[], closed: "stdout" | "stderr" = "stdout") {
  const child = Bun.spawn([process.execPath, CLI, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", IVSH_SOCKET: join(paths.dir, "none.sock") },
  });
  // Closed at once: the process takes far longer to start than this to run.
  await child[closed].cancel();
  const other = closed === "stdout" ? child.stderr : child.stdout;
  const [exitCode, text] = await Promise.all([child.exited, new Response(other).text()]);
  return { exitCode, text };
}

for (const [words, code] of [
  [["--version"], 0],
  [["--help"], 0],
  [["help", "guest", "send"], 0],
  [["completion", "bash"], 0],
] as const)
  test(`ivsh ${words.join(" ")} | (a reader that exits first): exit ${code}, nothing said`, async () => {
    const { exitCode, text } = await withReaderGone([...words]);
    expect(text).toBe("");
    expect(exitCode).toBe(code);
  });

test("ivsh status --json with no arbiter, its reader gone: exit 1, the one error line and no crash", async () => {
  const { exitCode, text } = await withReaderGone(["status", "--json"]);
  expect(text).not.toContain("EPIPE");
  expect(text).not.toMatch(/Bun v\d/);
  expect(text.trim().split("\n")).toHaveLength(1);
  expect(text).toContain("Failed to connect to the arbiter");
  expect(exitCode).toBe(1);
});

test("a usage error whose stderr reader is gone: exit 2, no crash on stdout either", async () => {
  const { exitCode, text } = await withReaderGone(["status", "--no-such-flag"], "stderr");
  expect(text).toBe("");
  expect(exitCode).toBe(2);
});

/**
 * A reader that exits after ivsh filled the pipe, with the pipe non-blocking (its flag is the open file's,
 * shared with whoever set it: a Node parent, an earlier command of the pipeline): the rest of the report,
 * handed to the stream on EAGAIN, met EPIPE there, which escaped as an error: "ERROR Failed to write since
 * broken pipe (EPIPE)" and exit 1, so a script's `ivsh status --check | head -1` took a healthy arbiter for
 * one that did not answer. The exit code is the command's own, as when the write meets EPIPE at once.
 */
describe("a non-blocking stdout pipe whose reader exits after ivsh filled it", () => {
  const suite = sharedArbiter("closed-reader-nonblocking", { lease: "1s", slots: "1024" });
  let client: Client | undefined;
  beforeAll(async () => {
    client = await connect({ region: suite.region, socket: suite.socket, name: "many" });
    // More than a pipe's 64 KiB of report: 600 lines of about 200 bytes.
    for (let index = 0; index < 600; index++) await client.mutex(`held-${index}-${"x".repeat(100)}`);
  }, 60_000);
  afterAll(() => client?.close());

  /** Runs `ivsh WORDS` into the pipe, closes its reader once the pipe is full; its exit code and stderr. */
  async function readerGoneWhenFull(words: readonly string[]) {
    const fifo = join(suite.dir, "stdout.fifo");
    rmSync(fifo, { force: true });
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    const writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    const child = Bun.spawn([process.execPath, CLI, ...words, "--limit", "1000", "--socket", suite.socket], {
      stdout: writer,
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    });
    // Bun.spawn clears O_NONBLOCK: set again on the open file the child shares, long before its first
    // write (which comes after its exchange with the arbiter).
    setNonBlocking(writer, true, "the test's end of the child's stdout");
    closeSync(writer);
    // The pipe full (its 64 KiB written: the status exchange writes far less than that elsewhere), the
    // rest was refused with EAGAIN and handed to the stream, which waits for room.
    const procFile = (name: string) => readFileSync(`/proc/${child.pid}/${name}`, "utf8");
    await eventually(
      async () => Number(/^wchar: (\d+)$/m.exec(procFile("io"))?.[1]) >= 65_536,
      livenessBoundMs(1000),
      "the child to fill its stdout pipe",
    );
    const flags = Number.parseInt(/^flags:\s+(\d+)$/m.exec(procFile("fdinfo/1"))?.[1] ?? "", 8);
    expect(flags & constants.O_NONBLOCK).toBe(constants.O_NONBLOCK);
    closeSync(reader);
    const [exitCode, stderr] = await Promise.all([child.exited, new Response(child.stderr).text()]);
    return { exitCode, stderr };
  }

  for (const words of [["status", "--check"], ["status", "--check", "--json"], ["status"]])
    testWithTool(
      "mkfifo",
      `ivsh ${words.join(" ")}, healthy: exit 0, nothing on stderr`,
      async () => expect(await readerGoneWhenFull(words)).toEqual({ exitCode: 0, stderr: "" }),
      30_000,
    );

  testWithTool(
    "mkfifo",
    "ivsh status --check naming a problem: exit 3, the problem alone on stderr",
    async () => {
      renameSync(suite.region, `${suite.region}.moved`);
      try {
        await eventually(
          async () => (await client!.status(0)).problems !== undefined,
          livenessBoundMs(1000),
          "status to name the region file moved away",
        );
        const { exitCode, stderr } = await readerGoneWhenFull(["status", "--check"]);
        expect(exitCode).toBe(3);
        expect(stderr).toStartWith(`[ivsh] ERROR PROBLEM: the region file ${suite.region} was removed`);
        expect(stderr.trim().split("\n")).toHaveLength(1);
      } finally {
        renameSync(`${suite.region}.moved`, suite.region);
      }
    },
    30_000,
  );
});
