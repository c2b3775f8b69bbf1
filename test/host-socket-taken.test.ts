/**
 * `ivsh host` on a socket path where a program that is no ivsh arbiter listens: refused, nothing removed
 * or created, and the message says what listens there (not "another arbiter") and what to do.
 */
import { afterEach, describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import type { Subprocess } from "bun";
import { isIvshError } from "../src/errors.ts";
import { clearStaleSocket } from "../src/host/listener.ts";
import { expectOneLine, runHost } from "./helpers/host-run.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { eventually } from "./helpers/processes.ts";
import { testWithTool } from "./helpers/tools.ts";

let paths: TestPaths;
let listener: Subprocess | undefined;

afterEach(async () => {
  listener?.kill();
  await listener?.exited;
  listener = undefined;
  paths?.cleanup();
});

/** A process of its own listening on `path`: `onOpen` is what it does with each connection. */
async function listenElsewhere(path: string, onOpen: string): Promise<number> {
  const script = `Bun.listen({ unix: ${JSON.stringify(path)}, socket: { open(s) { ${onOpen} }, data() {} } });`;
  listener = Bun.spawn([process.execPath, "-e", script], { stdout: "ignore", stderr: "inherit" });
  await eventually(async () => existsSync(path), 15_000, "the other program's socket");
  return listener.pid;
}

/** The start was refused and disturbed nothing: the other program's socket is there, no region was made. */
function expectUndisturbed(): void {
  expect(existsSync(paths.socket)).toBe(true);
  expect(existsSync(paths.region)).toBe(false);
  expect(existsSync(paths.state)).toBe(false);
}

/** The library's own error (the CLI only prints it): its code. */
async function refusalCode(): Promise<string | undefined> {
  try {
    await clearStaleSocket(paths.socket);
  } catch (error) {
    return isIvshError(error) ? error.code : String(error);
  }
  return undefined;
}

describe("ivsh host on a socket another program holds", () => {
  test("one that speaks another protocol: 'not an ivsh arbiter', what it sent, what to do", async () => {
    paths = testPaths("taken-http");
    const pid = await listenElsewhere(paths.socket, `s.write("HTTP/1.1 400 Bad Request\\r\\n\\r\\n");`);
    const { exitCode, stderr } = await runHost(paths);
    expect(exitCode).toBe(1);
    expectOneLine(
      stderr,
      `Failed to listen on ${paths.socket} since a program that is not an ivsh arbiter (pid ${pid},`,
    );
    expect(stderr).toContain(`it answered "HTTP/1.1 400 Bad Request"`);
    expect(stderr).toContain("stop that program, or choose another --socket");
    expect(stderr).not.toContain("another arbiter");
    expectUndisturbed();
    expect(await refusalCode()).toBe("InvalidArgument");
    expectUndisturbed();
  }, 60_000);

  test("one that never answers: it did not answer like an arbiter, which may be a stopped one", async () => {
    paths = testPaths("taken-silent");
    await listenElsewhere(paths.socket, "");
    const { exitCode, stderr } = await runHost(paths);
    expect(exitCode).toBe(1);
    expectOneLine(stderr, "listens on it but did not answer like an ivsh arbiter (it did not answer a hello");
    expect(stderr).toContain("a stopped or overloaded arbiter, or a program that is not one");
    expect(stderr).not.toContain("another arbiter");
    expectUndisturbed();
    expect(await refusalCode()).toBe("ArbiterRunning");
  }, 60_000);

  testWithTool(
    "socat",
    "socat UNIX-LISTEN:PATH,fork EXEC:cat, which echoes the hello back: not an ivsh arbiter",
    async () => {
      paths = testPaths("taken-socat");
      const socat = Bun.spawn(["socat", `UNIX-LISTEN:${paths.socket},fork`, "EXEC:cat"], {
        stdout: "ignore",
        stderr: "inherit",
      });
      listener = socat;
      await eventually(async () => existsSync(paths.socket), 15_000, "socat's socket");
      const { exitCode, stderr } = await runHost(paths);
      expect(exitCode).toBe(1);
      expectOneLine(
        stderr,
        `since a program that is not an ivsh arbiter (pid ${socat.pid}, socat) listens on it`,
      );
      expectUndisturbed();
      expect(await refusalCode()).toBe("InvalidArgument");
      // socat is still serving: nothing of it was taken.
      expect(socat.exitCode).toBeNull();
    },
    60_000,
  );
});
