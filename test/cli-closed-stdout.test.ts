/**
 * Output that cannot be written is a failure of the command: `ivsh status >&-` (the runtime opens
 * /dev/null in the closed slot, so every write "succeeded") and `ivsh status >/dev/full` exit 1 with one
 * error naming stdout and errno, not 0 with the output dropped. A reader that went away first (`| head`,
 * EPIPE) is not such a failure: test/cli-closed-reader.test.ts.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { CLI } from "./helpers/paths.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest } from "./helpers/transfer.ts";

const suite = sharedArbiter("closed-stdout");

/** Runs `ivsh ARGS` from a shell, with `redirect` applied to it; returns its exit code and stderr. */
async function runRedirected(args: string[], redirect: string) {
  const proc = Bun.spawn(["sh", "-c", `"$@" ${redirect}`, "sh", process.execPath, CLI, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", IVSH_SOCKET: suite.socket, IVSH_REGION: suite.region },
  });
  const [exitCode, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  return { exitCode, stderr };
}

const CLOSED = "Failed to write the output to stdout since stdout was closed when ivsh started (>&-, EBADF)";

describe("stdout closed when ivsh starts (>&-)", () => {
  for (const args of [["status"], ["status", "--json"], ["--version"], ["--help"], ["completion", "bash"]])
    test(`ivsh ${args.join(" ")} >&-: exit 1, one error naming stdout and EBADF`, async () => {
      const { exitCode, stderr } = await runRedirected(args, ">&-");
      expect(stderr).toContain(CLOSED);
      expect(stderr).not.toMatch(/^\s+at /m);
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(exitCode).toBe(1);
    });

  // A group without its command answers with its usage, a usage error's text, on stderr: stdout, closed,
  // is not written (it was, from the CLI's error report, whose refusal escaped as a crash, then exit 1).
  for (const args of [["guest"], ["example"]])
    test(`ivsh ${args.join(" ")} >&- (a group without its command): exit 2, its usage on stderr`, async () => {
      const { exitCode, stderr } = await runRedirected(args, ">&-");
      expect(stderr).toContain(`USAGE ivsh ${args[0]} `);
      expect(stderr).not.toContain(CLOSED);
      expect(stderr).not.toMatch(/^\s+at /m);
      expect(exitCode).toBe(2);
    });

  test("ivsh status --json >&- with no arbiter: the failure itself is reported, not the JSON it could not write", async () => {
    const { exitCode, stderr } = await runRedirected(
      ["status", "--json", "--socket", `${suite.socket}.none`],
      ">&-",
    );
    expect(stderr).toContain("Failed to connect to the arbiter");
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(exitCode).toBe(1);
  });

  test("ivsh status >/dev/null: an open stdout that drops the output is the user's choice (exit 0)", async () => {
    const { exitCode, stderr } = await runRedirected(["status"], ">/dev/null");
    expect(stderr).toBe("");
    expect(exitCode).toBe(0);
  });
});

describe("stdout that refuses the output", () => {
  test("ivsh status >/dev/full: exit 1, one error naming stdout and ENOSPC", async () => {
    const { exitCode, stderr } = await runRedirected(["status"], ">/dev/full");
    expect(stderr).toContain("Failed to write the output to stdout since ");
    expect(stderr).toContain("(ENOSPC)");
    expect(stderr.trim().split("\n")).toHaveLength(1);
    expect(exitCode).toBe(1);
  });
});

describe("a transfer whose --json result could not be written", () => {
  // Before: the transfer ran, the other end exited 0 with the file kept, and this end exited 1 at its
  // summary: the two ends disagreed on a transfer (docs: both exit 0, or both non-zero).
  test("guest send --json >&-: refused before the transfer, nothing sent", async () => {
    const output = join(suite.dir, "json-send.out");
    const receiver = guest(suite.paths, [
      "recv",
      "--channel",
      "json-send",
      "--out",
      output,
      "--timeout",
      "3s",
    ]);
    const { exitCode, stderr } = await runRedirected(
      ["guest", "send", "/etc/hostname", "--channel", "json-send", "--json"],
      ">&-",
    );
    expect(stderr).toContain(CLOSED);
    expect(exitCode).toBe(1);
    expect(await receiver.exit()).toBe(1); // no sender came within its --timeout
    expect(existsSync(output)).toBe(false);
  });

  test("guest recv --out FILE --json >&-: refused before the transfer, no file kept", async () => {
    const output = join(suite.dir, "json-recv.out");
    const sender = guest(suite.paths, ["send", "/etc/hostname", "--channel", "json-recv", "--timeout", "3s"]);
    const { exitCode, stderr } = await runRedirected(
      ["guest", "recv", "--channel", "json-recv", "--out", output, "--json"],
      ">&-",
    );
    expect(stderr).toContain(CLOSED);
    expect(exitCode).toBe(1);
    expect(await sender.exit()).toBe(1);
    expect(existsSync(output)).toBe(false);
  });
});

describe("a command whose result comes after long work", () => {
  // Before: each did its whole work (minutes for the benchmark) with its output going to the /dev/null the
  // runtime put in the closed slot (the benchmark), or failed only at its end (the demo, the examples).
  // Refused first, each says only that: no progress line of work begun.
  for (const args of [
    ["bench", "--quick"],
    ["bench", "--scale", "--quick"],
    ["demo", "--size", "1MiB"],
    ["example", "fig1-writer", "/etc/hostname"],
    ["example", "fig2-reader", join("/nonexistent", "out"), "4"],
  ])
    test(`ivsh ${args.join(" ")} >&-: refused before it starts`, async () => {
      const { exitCode, stderr } = await runRedirected(args, ">&-");
      expect(stderr).toContain(CLOSED);
      expect(stderr.trim().split("\n")).toHaveLength(1);
      expect(exitCode).toBe(1);
    });
});
