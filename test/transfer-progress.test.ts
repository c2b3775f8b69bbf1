/** A transfer's --progress lines (off a terminal: plain, with total and percent) and --quiet. */
import { describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CLI } from "./helpers/paths.ts";
import { eventually, exitOrKill, livenessBoundMs } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testWithTool } from "./helpers/tools.ts";
import { clientEnv, guest, guestSaying, outPath, randomFile } from "./helpers/transfer.ts";

const MIB = 1 << 20;
const suite = sharedArbiter("progress", { size: "64MiB" });

const WITHIN_MS = livenessBoundMs(2000);

/**
 * `ivsh guest send INPUT --channel CHANNEL` on a terminal script(1) made, after `setup` (stty), with `env`
 * added; ended with Ctrl-C (exit 130) once it shows that it waits for a receiver. Returns what it showed.
 * (Ended by a --timeout 1s instead, a sender whose set-up a loaded machine held back past 0.8 s gave up
 * before it said that it waited.)
 */
async function waitingOnTerminal(setup: string, input: string, channel: string, env: Record<string, string>) {
  const command = `${setup}; exec '${process.execPath}' '${CLI}' guest send '${input}' --channel ${channel}`;
  const terminal = tracked(
    Bun.spawn(["script", "-qec", command, "/dev/null"], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, ...clientEnv(suite.paths), ...env },
    }),
  );
  const shown = { text: "" };
  const reading = (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of terminal.stdout) shown.text += decoder.decode(chunk, { stream: true });
  })();
  try {
    const line = `waiting for a receiver on channel '${channel}'...`;
    await eventually(
      async () => shown.text.includes(line),
      WITHIN_MS,
      `the sender on channel '${channel}' waiting`,
    );
    // script's child, the shell exec'd into the sender.
    const sender = Number(readFileSync(`/proc/${terminal.pid}/task/${terminal.pid}/children`, "utf8").trim());
    process.kill(sender, "SIGINT");
    expect(await exitOrKill(terminal, WITHIN_MS)).toBe(130);
    await reading;
    return shown.text;
  } finally {
    terminal.kill("SIGKILL");
  }
}

describe("progress and quiet", () => {
  test("--progress off a terminal: plain lines (no escape codes), with total and percent", async () => {
    const input = join(suite.dir, "shown.in");
    await randomFile(input, 3 * MIB);
    const output = outPath(suite.paths, "shown.out");
    const receiver = guest(suite.paths, ["recv", "--channel", "shown", "--out", output, "--progress"]);
    // A ring smaller than the file: a sender that could fill the ring before the receiver joined would
    // be done before it had any progress to show (it shows none until a receiver joins).
    const sender = guest(suite.paths, [
      "send",
      input,
      "--channel",
      "shown",
      "--progress",
      "--chunk-size",
      "64KiB",
    ]);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    const text = `${await sender.stderr}${await receiver.stderr}`;
    expect(text).not.toContain("\x1b[");
    expect(await sender.stderr).toMatch(/send .*shown\.in: \d+% .* \/ 3\.00 MiB\b/);
    // The receiver knows the total too: the sender announces it on each record.
    expect(await receiver.stderr).toMatch(/recv .*shown\.out: \d+% .* \/ 3\.00 MiB\b/);
    // The first report comes with the first chunk: no time has passed to make a rate of (a chunk in
    // "0 ms" would read as GB/s), so it shows none.
    const firstLine = (await receiver.stderr).split("\n").find((line) => line.includes("%"));
    expect(firstLine).not.toMatch(/ [\d.]+ [MG]B\/s|ETA \d/);
  });

  testWithTool(
    "script",
    "on a 60-column terminal every progress line fits (it is redrawn in place, not scrolled)",
    async () => {
      const input = join(suite.dir, `${"a-rather-long-file-name-".repeat(4)}.in`);
      await randomFile(input, 8 * MIB);
      const receiver = guest(suite.paths, ["recv", "--channel", "narrow", "--out", "/dev/null", "-q"]);
      const command = `stty cols 60; '${process.execPath}' '${CLI}' guest send '${input}' --channel narrow --chunk-size 64KiB`;
      const terminal = Bun.spawn(["script", "-qec", command, "/dev/null"], {
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, ...clientEnv(suite.paths), NO_COLOR: "" },
      });
      const [exitCode, shown] = await Promise.all([terminal.exited, new Response(terminal.stdout).text()]);
      expect([exitCode, await receiver.exit()]).toEqual([0, 0]);
      const drawn = shown
        .split("\r")
        .map((line) => line.replaceAll("\x1b[2K", "").replace(/\n$/, ""))
        .filter((line) => line.startsWith("send"));
      expect(drawn.some((line) => line.includes("%"))).toBe(true);
      for (const line of drawn) expect(line.length).toBeLessThan(60);
    },
  );

  testWithTool(
    "script",
    "on a terminal that reports no width (0 columns, as a serial console does) the progress line still shows",
    async () => {
      const input = join(suite.dir, "no-width.in");
      await randomFile(input, 1 * MIB);
      // Before it waited: cut to a lone "…", as if the terminal had no room at all.
      await waitingOnTerminal("stty cols 0", input, "no-width", { NO_COLOR: "" });
    },
  );

  testWithTool(
    "script",
    "on a terminal that takes no escape codes (TERM=dumb: Emacs's shell) the progress line is redrawn without them",
    async () => {
      const input = join(suite.dir, "dumb.in");
      await randomFile(input, 1 * MIB);
      const shown = await waitingOnTerminal("stty cols 80", input, "dumb", { NO_COLOR: "", TERM: "dumb" });
      // Its log lines had no colour there, but each redraw began with "\x1b[2K", shown as "^[[2K".
      expect(shown).not.toContain("\x1b[");
    },
  );

  test("a sender with no receiver says what it waits for", async () => {
    const input = join(suite.dir, "waiting.in");
    await randomFile(input, 12 * MIB);
    const sender = guestSaying(suite.paths, ["send", input, "--channel", "waiting", "--progress"]);
    // Said once its ring is set up: ended by its own --timeout 1s, a sender whose set-up a loaded machine
    // held back past 0.8 s gave up before it said it (its limit waits for the set-up, then for nothing).
    const line = "waiting for a receiver on channel 'waiting'...";
    await eventually(async () => sender.said.text.includes(line), WITHIN_MS, "the sender waiting");
    await Bun.sleep(1000); // waiting on, as long as that --timeout let it
    sender.proc.kill("SIGINT");
    expect(await exitOrKill(sender.proc, WITHIN_MS)).toBe(130);
    const said = sender.said.text;
    // The arbiter's watch looks at the link four times a second and redraws only a change: no waiting line
    // repeats the one before it. (Not a count of one: on a loaded machine the lease may fall into doubt for
    // a moment, "waiting for the arbiter ..." then "waiting for a receiver ..." again, each a change.)
    const waits = said.split("\n").filter((line) => line.includes(": waiting "));
    expect(waits.filter((line, at) => at > 0 && line === waits[at - 1])).toEqual([]);
    // The ring it filled meanwhile is not shown as progress: nobody has received a byte.
    expect(said).not.toMatch(/\d+%/);
  });

  test("--quiet: a transfer that succeeds prints nothing", async () => {
    const input = join(suite.dir, "hushed.in");
    await randomFile(input, 100_000);
    const output = outPath(suite.paths, "hushed.out");
    const receiver = guest(suite.paths, ["recv", "--channel", "hushed", "--out", output, "-q"]);
    const sender = guest(suite.paths, ["send", input, "--channel", "hushed", "--quiet"]);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    expect(`${await sender.stderr}${await receiver.stderr}`).toBe("");
  });
});
