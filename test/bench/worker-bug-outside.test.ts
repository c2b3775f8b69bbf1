/**
 * A bench worker is an `ivsh` command too: a bug thrown outside its awaited run (a timer's or a socket
 * handler's callback) is reported by the CLI and must not end it with exit 0, or `ivsh bench` takes the
 * measurement of a worker that failed as sound. It ended with its own process.exit(0) after its report.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { CLI, FIXTURES, type TestPaths, testPaths } from "../helpers/paths.ts";
import { EXIT_BOUND_MS, exitOrKill, readUntil } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("worker-bug");
});
afterAll(() => paths?.cleanup());

test(
  "a bench worker with a bug in a callback does its work and still exits 1",
  async () => {
    const address = `${paths.dir}/stream.sock`;
    const stream = ["--transport", "unix", "--address", address, "--bytes", "4096", "--chunk", "1024"];
    // The fixture throws once the receiver's socket exists, so the CLI's handlers are in place by then.
    const receiver = tracked(
      Bun.spawn(
        [
          process.execPath,
          "--preload",
          `${FIXTURES}/bug-outside.ts`,
          CLI,
          "bench-worker",
          "stream-recv",
          ...stream,
        ],
        {
          stdout: "pipe",
          stderr: "pipe",
          env: { ...process.env, NO_COLOR: "1", BUG_AFTER_SOCKET: address },
        },
      ),
    );
    // Its work comes after the bug, as a measurement's would.
    expect(await readUntil(receiver.stderr, "a bug in a callback")).toContain(
      "ERROR Error: a bug in a callback",
    );
    const sender = tracked(
      Bun.spawn([process.execPath, CLI, "bench-worker", "stream-send", ...stream], {
        stdout: "ignore",
        stderr: "inherit",
        env: { ...process.env, NO_COLOR: "1" },
      }),
    );
    expect(await exitOrKill(sender, EXIT_BOUND_MS)).toBe(0);
    expect(await exitOrKill(receiver, EXIT_BOUND_MS)).toBe(1);
    // It did the work: the bug alone made it fail.
    expect(await new Response(receiver.stdout).text()).toContain('"event":"received","bytes":4096');
  },
  3 * EXIT_BOUND_MS,
);
