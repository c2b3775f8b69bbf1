/**
 * The command line refuses what it cannot take faithfully: arguments that are not UTF-8, flag values out of
 * range, switches given values, paths it cannot use, a flag before its command; and it runs with its
 * standard streams closed.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, REPO, type TestPaths, testPaths } from "./helpers/paths.ts";
import { runCli, spawnBun } from "./helpers/processes.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("cli-inputs");
});
afterAll(() => paths?.cleanup());

/**
 * Runs the CLI from a shell so that `$(printf '\xff')` passes real bytes that are not UTF-8, as a user's
 * shell does (a JavaScript string cannot carry them).
 */
async function runShell(script: string): Promise<{ exitCode: number; stderr: string }> {
  const proc = Bun.spawn(["sh", "-c", script, "sh", process.execPath, CLI], {
    cwd: paths.dir,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1", IVSH_SOCKET: join(paths.dir, "none.sock") },
  });
  const [exitCode, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  return { exitCode, stderr };
}

describe("arguments that are not UTF-8", () => {
  test("a FILE whose name is not UTF-8: a usage error naming FILE, not 'no such file'", async () => {
    // The file exists: before, ivsh looked for "in\uFFFD" and said there was no such file.
    const result = await runShell(
      `printf x > "$(printf 'in\\377')"; "$1" "$2" guest send "$(printf 'in\\377')"`,
    );
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("Failed to use FILE 'in\uFFFD' since it is not valid UTF-8");
    expect(result.stderr).toContain("send it via stdin");
  });

  test("a --channel that is not UTF-8 is refused (two such names would meet on one channel)", async () => {
    const result = await runShell(`"$1" "$2" guest recv --channel "$(printf 'trial-\\376')" --out o1`);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("Failed to use --channel 'trial-\uFFFD' since it is not valid UTF-8");
    const inline = await runShell(`"$1" "$2" guest send --channel="$(printf 'trial-\\377')" -`);
    expect(inline.exitCode).toBe(2);
    expect(inline.stderr).toContain("--channel 'trial-\uFFFD'");
  });

  test("an --out that is not UTF-8 is refused before any file is created", async () => {
    const result = await runShell(`"$1" "$2" guest recv --channel c --out "$(printf 'out\\376')"`);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("Failed to use --out 'out\uFFFD'");
    expect(readdirSync(paths.dir).filter((name) => name.startsWith("out"))).toEqual([]);
  });

  test("other commands' flags too (status --connect)", async () => {
    const result = await runCli(["status", "--connect", "h\uFFFDst:1"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("--connect 'h\uFFFDst:1' since it is not valid UTF-8");
    expect(existsSync(join(paths.dir, "none.sock"))).toBe(false);
  });
});

describe("flag values the command refuses: exit 2, naming the flag and what it takes", () => {
  for (const [args, says] of [
    [["--limit", "99999999999"], "Failed to use --limit 99999999999 since it must be from 0 to 4294967294"],
    [["--connect", "garbage"], "Failed to use --connect 'garbage' since it is not HOST:PORT"],
    [["--connect", "127.0.0.1:99999"], "Failed to use --connect '127.0.0.1:99999' since it is not HOST:PORT"],
    // Port 0 is no port a bridge listens on (a connect() to it fails ECONNREFUSED, told as no arbiter).
    [["--connect", "127.0.0.1:0"], "Failed to use --connect '127.0.0.1:0' since it is not HOST:PORT"],
  ] as const)
    test(`status ${args.join(" ")}`, async () => {
      const result = await runCli(["status", ...args, "--socket", join(paths.dir, "none.sock")]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(says);
    });

  test("host --size and --block-size in decimal units: refused saying what they come to in bytes", async () => {
    const region = join(paths.dir, "decimal.region");
    const cases = [
      [
        ["--size", "10MB"],
        "Failed to use --size 10MB since 10MB is 10000000 bytes (kB, MB, GB and TB count in 1000s",
      ],
      [["--block-size", "64KB"], "; 64KB is 64000 bytes (kB, MB, GB and TB count in 1000s"],
    ] as const;
    for (const [flags, says] of cases) {
      const result = await runCli([
        "host",
        "--region",
        region,
        "--socket",
        join(paths.dir, "d.sock"),
        ...flags,
      ]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(says);
      expect(existsSync(region)).toBe(false);
    }
  });

  test("guest send --connect garbage: the same, before the file is opened", async () => {
    const result = await runCli(["guest", "send", "/nonexistent-ivsh-file", "--connect", "garbage"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("--connect 'garbage'");
  });
});

describe("switches", () => {
  test("--force=no is refused, not read as --force: the file it was meant to keep stays", async () => {
    const kept = join(paths.dir, "kept");
    writeFileSync(kept, "mine");
    const result = await runCli(["guest", "recv", "--out", kept, "--force=no", "--timeout", "1s"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(
      "--force=no: --force is a switch, its only values true and false: write --force alone",
    );
    expect(await Bun.file(kept).text()).toBe("mine");
  });

  test("recv --force with --out - (or a name of stdout): refused, there is no file it could replace", async () => {
    for (const out of ["-", "/dev/stdout"]) {
      const result = await runCli(["guest", "recv", "--out", out, "--force", "--timeout", "1s"]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(
        `Failed to use --force with --out ${out} since that is an open descriptor`,
      );
    }
  });

  test("=true and =false still mean what they say", async () => {
    const result = await runCli(["status", "--json=false", "--socket", join(paths.dir, "none.sock")]);
    expect(result.exitCode).toBe(1);
    expect(result.stdout).not.toContain('{"error"');
    const json = await runCli(["status", "--json=true", "--socket", join(paths.dir, "none.sock")]);
    expect(json.stdout).toContain('{"error"');
  });
});

describe("standard streams closed when ivsh starts (the runtime opens /dev/null there)", () => {
  test("send - <&-: refused, not an empty stream both ends call verified", async () => {
    const result = await runShell(`"$1" "$2" guest send - --channel closed-in <&-`);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(
      "Failed to send stdin since standard input was closed when ivsh started (<&-): pipe the data in, or name a FILE",
    );
  });

  test("recv --out - >&-: refused, not a stream verified and dropped", async () => {
    const result = await runShell(`"$1" "$2" guest recv --channel closed-out --out - >&-`);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(
      "Failed to write the stream to stdout since stdout was closed when ivsh started (>&-): redirect it, or pass --out FILE",
    );
  });

  test("recv --out /dev/stdout >&-: refused as --out - is (a name of stdout is stdout)", async () => {
    const result = await runShell(`"$1" "$2" guest recv --channel closed-out --out /dev/stdout >&-`);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(
      "Failed to write /dev/stdout since it names descriptor 1, which was closed when ivsh started",
    );
  });

  test("send /dev/stdin <&-: refused as send - is", async () => {
    const result = await runShell(`"$1" "$2" guest send /dev/stdin --channel closed-in <&-`);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(
      "Failed to send /dev/stdin since standard input was closed when ivsh started",
    );
  });

  // Under Node the launcher's child got Node's /dev/null without the close-on-exec flag: it sent an empty
  // stream, "✔ sent 0 B ... verified", and the receiver kept an empty file.
  // Run as a command (npm's `ivsh`), the file is a shell script that execs bun: descriptors as it got them.
  for (const [how, runner] of [
    ["under Node", "node "],
    ["run as a command", ""],
  ] as const)
    test(`through the package's command ${how} (bin/ivsh.mjs): send - <&- refused too; </dev/null still open`, async () => {
      const launcher = `PATH="${join(REPO, "node_modules/.bin")}:$PATH" ${runner}"${join(REPO, "bin/ivsh.mjs")}"`;
      const closed = await runShell(`${launcher} guest send - --channel closed-in <&-`);
      expect(closed.exitCode).toBe(1);
      expect(closed.stderr).toContain(
        "Failed to send stdin since standard input was closed when ivsh started (<&-)",
      );
      const open = await runShell(`${launcher} guest send - --channel open-in --timeout 1s </dev/null`);
      expect(open.exitCode).toBe(1);
      expect(open.stderr).not.toContain("closed when ivsh started");
      expect(open.stderr).toContain("Failed to connect to the arbiter");
    });

  // Under Bun (bun bin/ivsh.mjs) the package's command imports src/cli.ts and calls its run().
  test("through the package's command under Bun (bin/ivsh.mjs): the CLI runs in the same process", async () => {
    const result = await runShell(`"$1" "${join(REPO, "bin/ivsh.mjs")}" --version`);
    expect(result.stderr).toBe("");
    expect(result.exitCode).toBe(0);
  });

  test("an open stdin that is /dev/null is not mistaken for a closed one", async () => {
    const result = await runShell(`"$1" "$2" guest send - --channel open-in --timeout 1s </dev/null`);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).not.toContain("closed when ivsh started");
    expect(result.stderr).toContain("Failed to connect to the arbiter");
  });
});

describe("demo", () => {
  test("--size 0 is refused (it printed a rate ratio of nothing)", async () => {
    const result = await runCli(["demo", "--size", "0"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("Failed to use --size 0 since it must be at least 1.00 MiB");
  });

  test("--rounds 1 says 1 round, with no median", async () => {
    const result = await runCli(["demo", "--size", "1MiB", "--rounds", "1"]);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stdout).toContain("from one process to another, 1 round:");
  });
});

describe("paths that cannot be used: one line naming them, no stack trace", () => {
  test("example fig1-writer of a missing file: the file system's own reason, in a sentence", async () => {
    const result = await runCli(["example", "fig1-writer", "/nonexistent-ivsh-file"]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr.trim()).toBe(
      "[ivsh] ERROR Failed to open /nonexistent-ivsh-file since no such file or directory (ENOENT)",
    );
  });

  for (const [args, says] of [
    [
      ["--disk-dir", "/nonexistent-ivsh-dir"],
      "Failed to use --disk-dir /nonexistent-ivsh-dir since it is not an existing directory",
    ],
    [
      ["--json", "/etc/passwd/x.json"],
      "Failed to write --json /etc/passwd/x.json since /etc/passwd is not a directory",
    ],
    [["--json", "/tmp"], "Failed to write --json /tmp since it names a directory"],
    [
      ["--out", "/etc/passwd/figures"],
      "Failed to write --out /etc/passwd/figures since /etc/passwd is not a directory",
    ],
  ] as const)
    test(`bench ${args.join(" ")}: refused before anything is measured`, async () => {
      const result = await runCli(["bench", "--quick", ...args]);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(says);
      expect(result.stderr).not.toContain("ℹ");
    });
});

describe("a flag before the command it is for: refused, not dropped while the command runs without it", () => {
  for (const [args, says] of [
    [
      ["--quiet", "status"],
      "Failed to use --quiet since it comes before the command: 'ivsh' takes no options of its own, put it after the command it is for (ivsh status --quiet)",
    ],
    [
      ["guest", "--json", "recv", "--timeout", "1s"],
      "Failed to use --json since it comes before the command: 'ivsh guest' takes no options of its own, put it after the command it is for (ivsh guest recv --timeout 1s --json)",
    ],
    [
      ["--socket", "none.sock", "status"],
      "put it after the command it is for (ivsh status --socket none.sock)",
    ],
    [["--bogus"], "Failed to use --bogus since 'ivsh' takes no options of its own: name a command"],
  ] as const)
    test(`ivsh ${args.join(" ")}`, async () => {
      const result = await runCli([...args]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(says);
      expect(result.stderr).not.toContain("Failed to connect");
    });

  test("a flag given to ivsh or a group alone: the hint points at its commands, as it takes no options", async () => {
    for (const [args, group] of [
      [["--bogus"], "ivsh"],
      [["guest", "--bogus"], "ivsh guest"],
    ] as const) {
      const result = await runCli([...args]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(`'${group}' takes no options of its own: name a command`);
      expect(result.stderr).toContain(`Run '${group} --help' to see the commands.`);
    }
  });

  test("an unknown command followed by a flag is still an unknown command", async () => {
    const result = await runCli(["guest", "sned", "-q"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("Unknown command 'sned'");
  });

  test("ivsh -v, alone, prints the version as --version does", async () => {
    const long = await runCli(["--version"]);
    const short = await runCli(["-v"]);
    expect(long.stdout).toMatch(/^\d+\.\d+\.\d+\S*\n$/);
    expect([short.exitCode, short.stdout, short.stderr]).toEqual([0, long.stdout, ""]);
  });

  // Found by a trial: -V, which most commands take for their version, was "takes no options of its own".
  test("ivsh -V, alone, prints the version too; 'ivsh version' is pointed at --version", async () => {
    const long = await runCli(["--version"]);
    const upper = await runCli(["-V"]);
    expect([upper.exitCode, upper.stdout, upper.stderr]).toEqual([0, long.stdout, ""]);
    const word = await runCli(["version"]);
    expect(word.exitCode).toBe(2);
    expect(word.stderr).toContain("Unknown command 'version': did you mean 'ivsh --version'?");
  });

  test("ivsh --version host: no arbiter started, no region made", async () => {
    const region = join(paths.dir, "version-host.region");
    const spawned = spawnBun([
      CLI,
      "--version",
      "host",
      "--exit-with-parent",
      "--region",
      region,
      "--socket",
      join(paths.dir, "version-host.sock"),
    ]);
    expect(await spawned.exit(15_000)).toBe(2);
    expect(await spawned.stderr).toContain("Failed to use --version since it comes before the command");
    expect(existsSync(region)).toBe(false);
  });
});

test("a FILE named -h or --help after --: sent (or refused) as a file, not help with exit 0", async () => {
  for (const name of ["-h", "--help"]) {
    const result = await runCli(["guest", "send", "--socket", join(paths.dir, "none.sock"), "--", name]);
    expect(result.stdout).not.toContain("USAGE");
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(`Failed to send ${name} since there is no such file or directory`);
  }
});
