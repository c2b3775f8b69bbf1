/**
 * The command line's help and usage errors: --help and `ivsh help`, unknown commands and options, no
 * command at all; no colour codes off a terminal.
 */
import { describe, expect, test } from "bun:test";
import { runCli } from "./helpers/processes.ts";

describe("ivsh CLI", () => {
  test("--help lists the commands; each command's --help describes every option", async () => {
    const top = await runCli(["--help"]);
    expect(top.exitCode).toBe(0);
    expect(top.stdout).toContain("host");
    expect(top.stdout).toContain("status");
    const host = await runCli(["host", "--help"]);
    expect(host.exitCode).toBe(0);
    for (const flag of [
      "--region",
      "--socket",
      "--size",
      "--block-size",
      "--state",
      "--lease",
      "--client-quota",
      "--vm-quota",
    ])
      expect(host.stdout).toContain(flag);
  });

  test("host's help says the units and the shortest --lease and --hello-wait it takes", async () => {
    const { stdout } = await runCli(["host", "--help"]);
    expect(stdout).toContain(
      "--lease=<DURATION>    Heartbeat lease, with a unit (ms, s, m, h; e.g. 5s), at least 1s (clients heartbeat every sixth of it)",
    );
    expect(stdout).toContain("no hello within this, with a unit (ms, s, m, h; e.g. 10s), at least 250ms");
    const recv = await runCli(["guest", "recv", "--help"]);
    expect(recv.stdout).toContain("within DURATION, with a unit (ms, s, m, h): e.g. 30s or 500ms");
  });

  test("every command's help names it as typed, says defaults one way, hints every value, pads nothing", async () => {
    for (const words of [
      [],
      ["host"],
      ["status"],
      ["guest"],
      ["guest", "send"],
      ["guest", "recv"],
      ["bench"],
      ["demo"],
      ["example"],
      ["bridge"],
      ["completion"],
    ]) {
      const { stdout, exitCode } = await runCli([...words, "--help"]);
      expect(exitCode).toBe(0);
      const usage = stdout.split("\n").find((line) => line.startsWith("USAGE "));
      expect(usage).toStartWith(`USAGE ${["ivsh", ...words].join(" ")}`);
      expect(stdout).not.toContain("(Default:");
      expect(stdout.split("\n").filter((line) => line !== line.trimEnd())).toEqual([]);
      // A flag's value is named for what it is (SIZE, N, PATH), never the flag's own name in lower case.
      expect(stdout.match(/--[a-z-]+=<[a-z_]+>/g) ?? []).toEqual([]);
    }
  });

  test("an unknown option is a usage error naming it (exit 2): the error and one hint line, not the help", async () => {
    const result = await runCli(["host", "--blocksize", "4k"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split("\n")).toEqual([
      "[ivsh] ERROR Unknown option --blocksize: did you mean --block-size?",
      "Run 'ivsh host --help' to see the options.",
    ]);
    expect(result.stdout).toBe("");
  });

  // Found by a trial: `send FILE --depth 4` moved 1 MiB chunks, though --chunk-size's help said 4 MiB for
  // a regular file (the file's ring applies only when neither flag shapes it).
  test("send's --chunk-size and --depth say when a regular file's defaults apply", async () => {
    const { stdout } = await runCli(["guest", "send", "--help"]);
    expect(stdout).toContain(
      "(default 1.00 MiB; 4.00 MiB for a regular file, unless --depth is given; halved to fit a small region, or what is left of it or of a quota, when neither is)",
    );
    expect(stdout).toContain("(default 8; 2 for a regular file, unless --chunk-size is given)");
  });

  test("`ivsh help COMMAND` prints what `COMMAND --help` does", async () => {
    const viaHelp = await runCli(["help", "guest", "send"]);
    const viaFlag = await runCli(["guest", "send", "--help"]);
    expect(viaHelp.exitCode).toBe(0);
    expect(viaHelp.stdout).toBe(viaFlag.stdout);
    expect(viaHelp.stdout).toContain("--chunk-size");
  });

  test("`ivsh help --help` is help too, not a command named --help", async () => {
    const result = await runCli(["help", "--help"]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toBe((await runCli(["--help"])).stdout);
  });

  test("a switch's help line says no '(default false)': it is off unless given", async () => {
    const result = await runCli(["guest", "recv", "--help"]);
    const force = result.stdout.split("\n").find((line) => line.includes("--force"));
    expect(force).toMatch(/once the new copy is verified\)$/);
  });

  test("`ivsh help` of a command that does not exist: a usage error naming it, exit 2", async () => {
    const result = await runCli(["help", "guest", "sned"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr.trim().split("\n")).toEqual([
      "[ivsh] ERROR There is no command 'ivsh guest sned': did you mean 'ivsh guest send'?",
      "Run 'ivsh guest --help' to see the commands.",
    ]);
    expect(result.stdout).toBe("");
  });

  test("`ivsh help` of a word after a command without subcommands: says it has none, suggests no other group's", async () => {
    for (const words of [
      ["status", "send"],
      ["guest", "send", "foo"],
    ]) {
      const result = await runCli(["help", ...words]);
      const command = `ivsh ${words.slice(0, -1).join(" ")}`;
      expect(result.exitCode).toBe(2);
      // Before: "There is no command 'ivsh status send': did you mean 'ivsh guest send'?", then "Run 'ivsh
      // status --help' to see the commands" (it has none).
      expect(result.stderr.trim().split("\n")).toEqual([
        `[ivsh] ERROR There is no command 'ivsh ${words.join(" ")}': '${command}' has no subcommands`,
        `Its help is '${command} --help'.`,
      ]);
      expect(result.stdout).toBe("");
    }
  });

  test("help and errors carry no colour codes when not written to a terminal", async () => {
    for (const args of [["--help"], ["guest", "send", "--help"], ["hots"], ["guest"]]) {
      const result = await runCli(args);
      expect({ args, escapes: `${result.stdout}${result.stderr}`.includes("\x1b[") }).toEqual({
        args,
        escapes: false,
      });
    }
  });

  test("no command at all is a usage error (exit 2) that shows the commands on stderr, as `ivsh guest` alone is", async () => {
    for (const words of [[], ["guest"]]) {
      const { stdout, stderr, exitCode } = await runCli(words);
      expect(exitCode).toBe(2);
      // Before: the usage on stdout, which a script reads as the command's output.
      expect({
        words,
        stdout,
        usage: stderr.startsWith("Fast, safe") || stderr.startsWith("Move files"),
      }).toEqual({
        words,
        stdout: "",
        usage: true,
      });
      expect(stderr).toContain(`USAGE ${["ivsh", ...words].join(" ")} `);
    }
    // --help asked for it: its answer, on stdout (exit 0).
    const help = await runCli(["--help"]);
    expect({ exitCode: help.exitCode, stderr: help.stderr }).toEqual({ exitCode: 0, stderr: "" });
    expect(help.stdout).toContain("USAGE ivsh ");
  });

  test("an unknown command is a usage error (exit 2)", async () => {
    const result = await runCli(["hots"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("Unknown command 'hots'");
    expect(result.stderr).toContain("Run 'ivsh --help' to see the commands.");
  });
});
