/** Words on the command line that citty would misread: a typo beside a required flag, a word like -5. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdirSync, truncateSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { durationWithin, regionPath, socketPath } from "../src/commands/_args.ts";
import { DEFAULT_REGION, DEFAULT_SOCKET } from "../src/defaults.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { runCli, spawnBun } from "./helpers/processes.ts";
import { cannotMount, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("cli-words");
});
afterAll(() => paths?.cleanup());

/** Flags that keep a command that does start away from the defaults other runs use. */
const privately = () => ["--socket", paths.socket, "--region", paths.region, "--state", paths.state];

describe("an unknown flag is named even where a required argument is missing", () => {
  for (const [args, unknown] of [
    [["bridge", "--vn", "x"], "--vn"],
    [["compact-state", "--stat", "x"], "--stat"],
    [["guest", "send", "--chanel", "c"], "--chanel"],
  ] as const)
    test(args.join(" "), async () => {
      const result = await runCli([...args]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(`Unknown option ${unknown}`);
      expect(result.stderr).not.toContain("Missing required");
    });

  test("a required argument really missing is still said", async () => {
    const result = await runCli(["bridge"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("Missing required argument: --vm");
  });
});

describe("a word like -5", () => {
  for (const [args, says] of [
    [["host", "--slots", "-5"], "Failed to parse --slots '-5' since it is not a whole number of 1 or more"],
    [
      ["guest", "send", "--depth", "-5", "f"],
      "Failed to parse --depth '-5' since it is not a whole number from 2",
    ],
    [["guest", "send", "--depth=-5", "f"], "Failed to parse --depth '-5'"],
  ] as const)
    test(`as a flag's value (${args.join(" ")}): the flag is named with what it takes`, async () => {
      const result = await runCli([...args, "--socket", paths.socket]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(says);
    });

  test("alone, on a command without arguments (host -5): refused, no arbiter started", async () => {
    // Before, the arbiter started: bounded, so that shows as a failure, not a hang.
    const spawned = spawnBun([CLI, "host", "-5", ...privately()]);
    const result = { exitCode: await spawned.exit(), stderr: await spawned.stderr };
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("Failed to use '-5' since it reads as an option");
    expect(result.stderr).toContain("a value goes right after the flag it is for");
    expect(existsSync(paths.region)).toBe(false);
    expect(existsSync(paths.socket)).toBe(false);
  });

  test("alone, where FILE goes (guest send -5): named, with how to send a file of that name", async () => {
    const result = await runCli(["guest", "send", "-5", "--socket", paths.socket]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("Failed to use '-5' since it reads as an option");
    expect(result.stderr).toContain("a FILE named -5 goes after -- (-- -5) or as ./-5");
    expect(result.stderr).not.toContain("Missing required positional argument");
  });

  // Found by a trial: `ivsh example fig2-reader out -1` said "a OUT named -1 goes after --": OUT was given,
  // the word stood where BYTES goes.
  test("where the second argument goes (fig2-reader out -1): that argument named, with its article", async () => {
    const result = await runCli(["example", "fig2-reader", "out", "-1", "--socket", paths.socket]);
    expect(result.exitCode).toBe(2);
    // Not "or as ./-1": BYTES names no file.
    expect(result.stderr).toContain("a BYTES named -1 goes after -- (-- -1)\n");
    const first = await runCli(["example", "fig2-reader", "-1", "--socket", paths.socket]);
    expect(first.stderr).toContain("an OUT named -1 goes after -- (-- -1) or as ./-1");
    const past = await runCli(["guest", "send", "f", "-5", "--socket", paths.socket]);
    expect(past.stderr).toContain("a value goes right after the flag it is for");
  });

  test("after --, -5 is a FILE", async () => {
    const result = await runCli(["guest", "send", "--socket", paths.socket, "--", "-5"]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain("Failed to send -5 since there is no such file");
  });
});

describe("flags that contradict each other: refused naming both, not one of them ignored", () => {
  for (const command of [["status"], ["guest", "recv", "--out", "-"], ["guest", "send", "f"]])
    test(`${command.join(" ")} --socket with --connect`, async () => {
      const result = await runCli([...command, "--socket", paths.socket, "--connect", "127.0.0.1:1"]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain("Failed to use --socket and --connect together since each says");
    });
});

describe("--quiet with --progress: refused, not --progress ignored", () => {
  for (const command of [
    ["guest", "recv", "--out", "-"],
    ["guest", "send", "f"],
  ])
    test(`${command.join(" ")} --quiet with --progress`, async () => {
      const result = await runCli([...command, "--socket", paths.socket, "-q", "--progress"]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain("Failed to use --quiet and --progress together");
    });
});

test("bench --scale with fewer --allocations than --clients: a usage error (exit 2), before anything runs", async () => {
  const result = await runCli(["bench", "--scale", "--clients", "10", "--allocations", "5"]);
  expect(result.stderr).toContain("5 allocations cannot be spread over 10 clients");
  expect(result.stderr).toContain("Run 'ivsh bench --help' to see the options.");
  expect(result.exitCode).toBe(2);
});

/** As root every open succeeds: these run as nobody (setpriv). */
const notRootOrNoSetpriv =
  process.getuid?.() === 0 ? toolMissing("setpriv") : "only root can run a command as another user here";

async function asNobody(args: string[]): Promise<{ exitCode: number; stderr: string }> {
  const run = Bun.spawn(
    ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", process.execPath, CLI, ...args],
    {
      env: { ...process.env, HOME: "/tmp", NO_COLOR: "1" },
      stdout: "ignore",
      stderr: "pipe",
    },
  );
  const [exitCode, stderr] = await Promise.all([run.exited, new Response(run.stderr).text()]);
  return { exitCode, stderr };
}

testUnless(
  notRootOrNoSetpriv,
  "a FILE or --out this user may not open: the error names the argument, as for any other refusal",
  async () => {
    const dir = join(paths.dir, "closed");
    mkdirSync(dir);
    chmodSync(paths.dir, 0o755);
    chmodSync(dir, 0o755);
    const secret = join(dir, "secret");
    writeFileSync(secret, "x", { mode: 0o600 });
    const socket = ["--socket", join(paths.dir, "none.sock")];
    const send = await asNobody(["guest", "send", secret, ...socket]);
    expect(send.stderr).toContain(
      `this user may not open ${secret} (EACCES: its permissions, or its directory's, do not allow it) (FILE names`,
    );
    expect(send.exitCode).toBe(1);
    const recv = await asNobody(["guest", "recv", "--out", join(dir, "copy"), ...socket]);
    expect(recv.stderr).toContain(
      "(EACCES: its permissions, or its directory's, do not allow it) (--out names",
    );
    expect(recv.exitCode).toBe(1);
  },
);

// host and bridge took IVSH_SOCKET= as the socket '' (a raw 'Failed to link .~XXXXXX', a TypeError) and
// IVSH_REGION= as the current directory, where every client takes an empty variable for an unset one.
test("an empty IVSH_SOCKET or IVSH_REGION is an unset one for host and bridge, as for the clients", () => {
  const saved = { socket: process.env.IVSH_SOCKET, region: process.env.IVSH_REGION };
  process.env.IVSH_SOCKET = "";
  process.env.IVSH_REGION = "";
  try {
    expect({ socket: socketPath({}), region: regionPath({}) }).toEqual({
      socket: DEFAULT_SOCKET,
      region: DEFAULT_REGION,
    });
  } finally {
    for (const [key, value] of [
      ["IVSH_SOCKET", saved.socket],
      ["IVSH_REGION", saved.region],
    ] as const)
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
  }
});

describe("an empty path or address (--socket=): refused, not read as the default or as the current directory", () => {
  for (const [args, flag] of [
    [["status", "--socket="], "--socket"],
    [["status", "--connect="], "--connect"],
    [["guest", "send", "f", "--region="], "--region"],
    [["guest", "recv", "--out", "-", "--socket", ""], "--socket"],
    [["host", "--region="], "--region"],
    [["host", "--socket="], "--socket"],
    [["host", "--state="], "--state"],
    [["bridge", "--vm", "a", "--socket="], "--socket"],
  ] as const)
    test(args.join(" "), async () => {
      const result = await runCli([...args]);
      expect(result.stderr).toContain(`Failed to use ${flag} '' since it is empty`);
      expect(result.exitCode).toBe(2);
    });
});

describe("an empty file argument (send ''): a usage error naming it, as --out '' is, not a failure to open ''", () => {
  const nowhere = ["--socket", "/nonexistent-ivsh-dir/ivsh.sock", "--region", "/nonexistent-ivsh-dir/region"];
  for (const [args, named] of [
    [["guest", "send", ""], "FILE"],
    [["example", "fig1-writer", ""], "FILE"],
    [["example", "fig2-reader", "", "10"], "OUT"],
  ] as const)
    test(JSON.stringify(args), async () => {
      const result = await runCli([...args, ...nowhere]);
      expect(result.stderr).toContain(`Failed to use ${named} '' since it is empty`);
      expect(result.exitCode).toBe(2);
    });
});

describe("host --region naming a file or directory that is no region: said so, with no --size that cannot help", () => {
  const data = () => {
    const file = join(paths.dir, "data.bin");
    writeFileSync(file, Buffer.alloc(3_000_000, 1));
    return file;
  };
  const host = (region: string, ...extra: string[]) =>
    runCli(["host", "--region", region, "--socket", paths.socket, "--state", paths.state, ...extra]);

  test("an existing data file, no --size: named as a file of its size that no region has", async () => {
    const file = data();
    const result = await host(file);
    expect(result.stderr).toContain(
      `${file} is an existing 3000000-byte file, and no ivsh region is that size`,
    );
    expect(result.stderr).not.toContain("--size 4MiB");
    expect(result.exitCode).not.toBe(0);
    expect(Bun.file(file).size).toBe(3_000_000);
  });

  test("the same file with --size: not told to pass --size 3000000", async () => {
    const file = data();
    const result = await host(file, "--size", "4MiB");
    expect(result.stderr).toContain(
      "the file is already 2.86 MiB (no ivsh region is that size: name another --region",
    );
    expect(result.stderr).not.toContain("--size 3000000");
    expect(result.exitCode).toBe(1);
  });

  test("a region file of a region's size with a --block-size or --slots it cannot take: those are named", async () => {
    const file = join(paths.dir, "small.region");
    writeFileSync(file, Buffer.alloc(1024 * 1024));
    for (const [extra, says] of [
      [["--block-size", "2MiB"], "or a --block-size of at most 956KiB"],
      [["--slots", "100000"], "or pass fewer --slots"],
    ] as const) {
      const result = await host(file, ...extra);
      expect(result.stderr).toContain(says);
      expect(result.stderr).not.toContain("no ivsh region is that size");
      expect(result.exitCode).toBe(2);
    }
  });

  test("a directory: said to be one, not laid out as a 4096-byte region", async () => {
    const result = await host(paths.dir);
    expect(result.stderr).toContain(`${paths.dir} since it is a directory (--region names a file`);
    expect(result.stderr).not.toContain("4096-byte region");
    expect(result.exitCode).toBe(1);
  });
});

// A 16 TiB region in 4 KiB blocks has 2^32 + 254 of them, more than the header's u32 (and the arbiter's
// Int32Array free list) can count. The file is sparse (no page written) in a tmpfs of the test's own.
testUnless(
  cannotMount,
  "host --block-size too small for a huge region file: the block size that fits is named",
  async () => {
    await withSmallTmpfs(join(paths.dir, "huge"), "1m", async (dir) => {
      const file = join(dir, "huge.region");
      writeFileSync(file, "");
      truncateSync(file, 2 ** 44 + (1 << 20));
      const state = join(dir, "state");
      const result = await runCli([
        "host",
        "--region",
        file,
        "--socket",
        paths.socket,
        "--state",
        state,
        "--block-size",
        "4KiB",
      ]);
      expect(result.stderr).toContain("more than 2147483647 blocks");
      expect(result.stderr).toContain("pass --block-size 16KiB or more");
      expect(result.stderr).not.toContain("no ivsh region is that size");
      expect(result.exitCode).toBe(2);
    });
  },
);

test("a duration flag takes its least value itself (--lease 1s), and refuses anything shorter", () => {
  const least = { ms: 1000, text: "1s", why: "the reason" };
  expect(durationWithin("1s", "--lease", least)).toBe(1000);
  expect(durationWithin("1000ms", "--lease", least)).toBe(1000);
  expect(() => durationWithin("999ms", "--lease", least)).toThrow(
    "Failed to use --lease 999ms since it is shorter than 1s, the least --lease takes (the reason)",
  );
});

// Found by a review: a value past the longest was told "it must be between 1s and 596 h 31 min (clients
// heartbeat every sixth of the lease: a shorter one expires clients ...)": a bound in a form no duration
// flag takes ("596 h 31 min" is refused), and the reason for the least value, not the longest.
test("a duration flag past what a timer can wait names the longest in the flag's own syntax, not the least's reason", () => {
  const least = { ms: 1000, text: "1s", why: "the reason" };
  expect(durationWithin(`${2 ** 31 - 1}ms`, "--lease", least)).toBe(2 ** 31 - 1);
  expect(() => durationWithin("597h", "--lease", least)).toThrow(
    "Failed to use --lease 597h since it is longer than 2147483647ms (about 596h), the longest a timer can wait",
  );
  expect(() => durationWithin("", "--lease", least)).toThrow(
    "Failed to parse --lease '' since it is empty: write a duration like 5s or 250ms (units: ms, s, m for minutes, h), or leave --lease out",
  );
  expect(() => durationWithin("-5s", "--lease", least)).toThrow(
    "Failed to parse --lease '-5s' since it has a sign: --lease takes a positive duration, 1s or more, written without one, like 5s or 250ms (units: ms, s, m for minutes, h)",
  );
});

// Left open by an earlier session: "-0" was refused as "negative: a duration is 0 or more" (-0 is neither
// negative nor, for --timeout, taken as 0), and "+5s" as "not a duration like 5s". Each refusal names the
// flag and what it takes; what is taken (spaces around the number or unit) is taken the same way.
test("a duration written with either sign, 0 included, is refused in words true of it, naming what the flag takes", () => {
  const least = { ms: 1, text: "1ms", why: "leave it out to wait" };
  const signed = (text: string) =>
    `Failed to parse --timeout '${text}' since it has a sign: --timeout takes a positive duration, 1ms or more, written without one, like 5s or 250ms (units: ms, s, m for minutes, h)`;
  for (const text of ["-0", "-0s", "-0.0ms", " -0", "+5", "+5s", "+0", "- 5s"])
    expect(() => durationWithin(text, "--timeout", least)).toThrow(signed(text));
  for (const text of ["0", "0s", "0.0"])
    expect(() => durationWithin(text, "--timeout", least)).toThrow(
      `Failed to use --timeout ${text} since it is shorter than 1ms, the least --timeout takes (leave it out to wait)`,
    );
  expect(() => durationWithin("5.0", "--timeout", least)).toThrow(
    "Failed to parse --timeout '5.0' since it has no unit: write one, e.g. 5.0ms or 5.0s",
  );
  for (const text of ["5 s", " 5s", "5s ", "5.0s"])
    expect(durationWithin(text, "--timeout", least)).toBe(5000);
});
