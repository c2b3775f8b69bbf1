/** A transfer's --progress lines (off a terminal: plain, with total and percent) and --quiet. */
import { describe, expect, test } from "bun:test";
import { join } from "node:path";
import { CLI } from "./helpers/paths.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testWithTool } from "./helpers/tools.ts";
import { clientEnv, guest, outPath, randomFile } from "./helpers/transfer.ts";

const MIB = 1 << 20;
const suite = sharedArbiter("progress", { size: "64MiB" });

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
      const command = `stty cols 0; '${process.execPath}' '${CLI}' guest send '${input}' --channel no-width --timeout 1s`;
      const terminal = Bun.spawn(["script", "-qec", command, "/dev/null"], {
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, ...clientEnv(suite.paths), NO_COLOR: "" },
      });
      const [exitCode, shown] = await Promise.all([terminal.exited, new Response(terminal.stdout).text()]);
      expect(exitCode).toBe(1); // nobody received: --timeout
      // It was cut to a lone "…", as if the terminal had no room at all.
      expect(shown).toContain("waiting for a receiver on channel 'no-width'...");
    },
  );

  testWithTool(
    "script",
    "on a terminal that takes no escape codes (TERM=dumb: Emacs's shell) the progress line is redrawn without them",
    async () => {
      const input = join(suite.dir, "dumb.in");
      await randomFile(input, 1 * MIB);
      const command = `stty cols 80; '${process.execPath}' '${CLI}' guest send '${input}' --channel dumb --timeout 1s`;
      const terminal = Bun.spawn(["script", "-qec", command, "/dev/null"], {
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, ...clientEnv(suite.paths), NO_COLOR: "", TERM: "dumb" },
      });
      const [exitCode, shown] = await Promise.all([terminal.exited, new Response(terminal.stdout).text()]);
      expect(exitCode).toBe(1); // nobody received: --timeout
      expect(shown).toContain("waiting for a receiver on channel 'dumb'...");
      // Its log lines had no colour there, but each redraw began with "\x1b[2K", shown as "^[[2K".
      expect(shown).not.toContain("\x1b[");
    },
  );

  test("a sender with no receiver says what it waits for", async () => {
    const input = join(suite.dir, "waiting.in");
    await randomFile(input, 12 * MIB);
    const sender = guest(suite.paths, [
      "send",
      input,
      "--channel",
      "waiting",
      "--progress",
      "--timeout",
      "1s",
    ]);
    expect(await sender.exit()).toBe(1);
    const said = await sender.stderr;
    expect(said).toContain("waiting for a receiver on channel 'waiting'...");
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
