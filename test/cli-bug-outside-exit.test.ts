/**
 * The exit code and report of a bug outside a command's awaited run (src/cli.ts, reportBugsOutside), in
 * the cases service.test.ts does not reach: a bug during a command that then ends well (it must not end
 * 0: the CLI's run() returns the command's 0, which would replace the bug's 1; one that fails on its own, as
 * interrupted, keeps its own code), an unhandled rejection
 * (reported in ivsh's words, as a thrown error is, not Bun's), and a late bug after a command that failed
 * on its own (its exit code stays the command's). Real processes, the bug preloaded into them.
 */
import { expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, FIXTURES, testPaths } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, eventually, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { clientEnv } from "./helpers/transfer.ts";

const suite = sharedArbiter("mut13-bug-during");

/** `ivsh ARGS…` with `preload` loaded first, its stderr gathered as it comes (`said.text`). */
function withPreload(preload: string, args: string[], env: Record<string, string> = {}) {
  const proc = tracked(
    Bun.spawn([process.execPath, "--preload", preload, CLI, ...args], {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...env },
    }),
  );
  const said = { text: "" };
  const read = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of proc.stderr) said.text += decoder.decode(chunk, { stream: true });
  })();
  return { proc, said, read };
}

/** `guest recv --out OUT` on `channel`, waiting for a sender, once a bug in a callback was reported in it. */
async function receiverAfterBug(channel: string) {
  const { paths, dir } = suite;
  const [out, marker] = [join(dir, `${channel}.out`), join(dir, `${channel}.bug-now`)];
  // The fixture throws once `marker` exists: made only once recv waits, inside the CLI's run.
  const receiver = withPreload(
    join(FIXTURES, "bug-outside.ts"),
    ["guest", "recv", "--channel", channel, "--out", out, "--progress", "--timeout", "60s"],
    { ...clientEnv(paths), BUG_AFTER_SOCKET: marker },
  );
  try {
    await eventually(
      async () => receiver.said.text.includes("waiting for a sender"),
      EXIT_BOUND_MS,
      "recv waiting",
    );
    writeFileSync(marker, "");
    await eventually(
      async () => receiver.said.text.includes("[ivsh] ERROR Error: a bug in a callback"),
      EXIT_BOUND_MS,
      "the bug reported",
    );
  } catch (error) {
    receiver.proc.kill("SIGKILL");
    throw error;
  }
  return { ...receiver, out };
}

test(
  "a bug in a callback while `guest recv` waits, the transfer then done, still ends it with exit 1",
  async () => {
    const input = join(suite.dir, "in.bin");
    writeFileSync(input, "the data, received whole despite the bug\n");
    const receiver = await receiverAfterBug("bug-during");
    try {
      const sender = tracked(
        Bun.spawn([process.execPath, CLI, "guest", "send", "-q", input, "--channel", "bug-during"], {
          stdout: "ignore",
          stderr: "inherit",
          env: { ...process.env, NO_COLOR: "1", ...clientEnv(suite.paths) },
        }),
      );
      expect(await exitOrKill(sender, EXIT_BOUND_MS)).toBe(0);
      const code = await exitOrKill(receiver.proc, EXIT_BOUND_MS);
      await receiver.read;
      // It did its work: the bug alone makes it fail.
      expect(readFileSync(receiver.out, "utf8")).toBe(readFileSync(input, "utf8"));
      expect({ code, said: receiver.said.text }).toMatchObject({ code: 1 });
    } finally {
      receiver.proc.kill("SIGKILL");
    }
  },
  4 * EXIT_BOUND_MS,
);

test(
  "a bug in a callback while `guest recv` waits, then Ctrl-C, ends it with the interrupt's 130, not 1",
  async () => {
    const receiver = await receiverAfterBug("bug-interrupted");
    try {
      receiver.proc.kill("SIGINT");
      const code = await exitOrKill(receiver.proc, EXIT_BOUND_MS);
      await receiver.read;
      expect(receiver.said.text).toContain("interrupted by SIGINT");
      expect({ code, said: receiver.said.text }).toMatchObject({ code: 130 });
    } finally {
      receiver.proc.kill("SIGKILL");
    }
  },
  4 * EXIT_BOUND_MS,
);

test("an unhandled rejection after the command's end is reported in ivsh's words, and ends it with exit 1", async () => {
  const own = testPaths("mut13-rejection");
  try {
    const preload = join(own.dir, "late-rejection.ts");
    writeFileSync(preload, 'setTimeout(() => { Promise.reject(new Error("a late rejection")); }, 300);\n');
    const late = withPreload(preload, ["--version"]);
    const code = await exitOrKill(late.proc, EXIT_BOUND_MS);
    await late.read;
    expect(late.said.text).toContain("[ivsh] ERROR Error: a late rejection");
    expect(code).toBe(1);
  } finally {
    own.cleanup();
  }
});

test("a bug in a callback after a command that failed on its own keeps that command's exit code (2, usage)", async () => {
  const own = testPaths("mut13-late-usage");
  try {
    const preload = join(own.dir, "late-bug.ts");
    writeFileSync(preload, 'setTimeout(() => { throw new Error("a late bug"); }, 300);\n');
    const late = withPreload(preload, ["guest", "recv", "--no-such-flag"]);
    const code = await exitOrKill(late.proc, EXIT_BOUND_MS);
    await late.read;
    expect(late.said.text).toContain("--no-such-flag");
    expect(late.said.text).toContain("[ivsh] ERROR Error: a late bug");
    expect(code).toBe(2);
  } finally {
    own.cleanup();
  }
});
