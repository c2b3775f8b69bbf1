/** The command line: help, strict flags, clear errors, status output. */
import { describe, expect, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { connect } from "../src/guest/index.ts";
import { CLI, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, runCli } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("cli");

describe("ivsh CLI", () => {
  test("a flag that takes a value followed by another flag, or by nothing: a usage error, nothing written", async () => {
    const swallowed = await runCli(["bench", "--json", "--quick"]);
    expect(swallowed.exitCode).toBe(2);
    expect(swallowed.stderr).toContain(
      "--json needs a value, and the flag --quick follows it: write --json=FILE",
    );
    // citty alone took "--quick" for the file's name and ran the whole benchmark, writing ./--quick.
    expect(existsSync("--quick")).toBe(false);
    const last = await runCli(["bench", "--json"]);
    expect(last.exitCode).toBe(2);
    expect(last.stderr).toContain("--json needs a value: --json=FILE");
    const empty = await runCli(["bench", "--json="]);
    expect(empty.exitCode).toBe(2);
    expect(empty.stderr).toContain("--json needs the FILE to write to");
    const host = await runCli(["host", "--region", "--size", "1MiB", "--socket", `${suite.dir}/never.sock`]);
    expect(host.exitCode).toBe(2);
    expect(host.stderr).toContain("--region needs a value, and the flag --size follows it");
    expect(existsSync(`${suite.dir}/never.sock`)).toBe(false);
  });

  test("--json: a failed send or recv is a JSON result too (verified false, the error's code), exit code unchanged", async () => {
    const missing = await runCli([
      "guest",
      "send",
      "/nonexistent-ivsh-file",
      "--json",
      "--socket",
      "/tmp/no-ivsh.sock",
    ]);
    expect(missing.exitCode).toBe(1);
    expect(JSON.parse(missing.stdout)).toMatchObject({
      role: "send",
      file: "/nonexistent-ivsh-file",
      verified: false,
      error: { code: "NotFound" },
    });
    const refused = await runCli(["guest", "recv", "--channel=", "--out", "/dev/null", "--json"]);
    expect(refused.exitCode).toBe(2);
    expect(JSON.parse(refused.stdout)).toMatchObject({
      role: "recv",
      verified: false,
      error: { code: "Usage" },
    });
  });

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
      "[ivsh] ERROR Unknown option --blocksize",
      "Run 'ivsh host --help' to see the options.",
    ]);
    expect(result.stdout).toBe("");
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
      "[ivsh] ERROR There is no command 'ivsh guest sned'",
      "Run 'ivsh guest --help' to see the commands.",
    ]);
    expect(result.stdout).toBe("");
  });

  test("send --chunk-size and its old name --block-size together are refused; errors name the flag typed", async () => {
    const both = await runCli([
      "guest",
      "send",
      "/etc/hostname",
      "--block-size",
      "8k",
      "--chunk-size",
      "64k",
    ]);
    expect(both.exitCode).toBe(2);
    expect(both.stderr).toContain("--block-size is --chunk-size's old name: pass one of them");
    const old = await runCli(["guest", "send", "/etc/hostname", "--block-size", "3"]);
    expect(old.exitCode).toBe(2);
    // Only the flag that is wrong is named, not --depth the user did not pass.
    expect(old.stderr).toContain("Failed to use --block-size 3 since the chunk size 3 is not");
  });

  test("a directory as FILE, a region in a missing directory, a bad IVSH_LOG_LEVEL: each named, with what to do", async () => {
    const directory = await runCli(["guest", "send", suite.dir]);
    expect(directory.exitCode).toBe(1);
    expect(directory.stderr).toContain(
      `Failed to send ${suite.dir} since it is a directory (to send a tree: tar c DIR`,
    );
    const region = await runCli([
      "host",
      "--region",
      "/nonexistent-dir/region",
      "--socket",
      `${suite.dir}/r.sock`,
    ]);
    expect(region.exitCode).toBe(1);
    expect(region.stderr).toContain(
      "Failed to create the region /nonexistent-dir/region since its directory does not exist",
    );
    const level = await runCli(["guest", "send", "/nonexistent-file"], { IVSH_LOG_LEVEL: "loud" });
    expect(level.stderr).toContain(
      "IVSH_LOG_LEVEL=loud is not one of error, warn, info, debug: logging at info",
    );
  });

  // Both open like a file and read as 0 bytes: the arbiter went on to size them, and said only
  // "ftruncate /dev/null: EINVAL (Invalid argument)".
  test("a character device or a named pipe as --region is named as such, with what to pass", async () => {
    const fifo = `${suite.dir}/region.fifo`;
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    for (const [region, what] of [
      ["/dev/null", "a character device"],
      [fifo, "a named pipe (FIFO)"],
    ] as const) {
      const result = await runCli([
        "host",
        "--region",
        region,
        "--socket",
        `${suite.dir}/not-a-file.sock`,
        "--state",
        `${suite.dir}/not-a-file.state`,
      ]);
      expect(result.exitCode).toBe(1);
      expect(result.stderr).toContain(
        `Failed to serve ${region} since it is ${what}, not a regular file (--region names a file, e.g. /dev/shm/ivsh)`,
      );
    }
  });

  test("--depth 0 and 1 get the ring's own message (its range), not a different rule", async () => {
    for (const depth of ["0", "1"]) {
      const result = await runCli(["guest", "send", "/etc/hostname", "--depth", depth]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(`the ring depth ${depth} is outside 2..4096`);
    }
  });

  test("an arbiter that is not there: the reason in words, with the errno", async () => {
    const result = await runCli(["status", "--socket", `${suite.dir}/nobody.sock`]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain("since no socket exists there (ENOENT) (start it with `ivsh host`");
    expect(result.stderr).not.toContain("since Failed to connect");
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

  const badTransferFlags: [string[], RegExp][] = [
    [["--depth", "0"], /--depth 0 since the ring depth 0 is outside 2\.\.4096/],
    // The message for what is no number at all states the range the ring accepts, not "0 or more".
    [["--depth", "1k"], /--depth '1k' since it is not a whole number from 2 to 4096$/m],
    [["--depth", "-1"], /--depth '-1' since it is not a whole number from 2 to 4096$/m],
    [["--depth", "4097"], /Failed to use --depth 4097 since the ring depth 4097 is outside 2\.\.4096/],
    [["--depth", "1"], /the ring depth 1 is outside 2\.\./],
    [["--block-size", "1000"], /the chunk size 1000 is not a multiple of 4 KiB/],
    [
      ["--chunk-size", "1000"],
      /Failed to use --chunk-size 1000 since the chunk size 1000 is not a multiple of 4 KiB/,
    ],
    [["--chunk-size", "0"], /Failed to use --chunk-size 0 since the chunk size 0 is not a multiple of 4 KiB/],
  ];
  for (const [flags, message] of badTransferFlags)
    test(`guest send ${flags.join(" ")}: a usage error (exit 2) before anything is opened`, async () => {
      const result = await runCli(["guest", "send", "/nonexistent-file", ...flags]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(result.stderr).toContain("Run 'ivsh guest send --help' to see the options.");
    });

  for (const vm of ["", "a b", "x".repeat(65), "host"])
    test(`bridge --vm '${vm.slice(0, 8)}': not a VM name, a usage error (exit 2) naming --vm`, async () => {
      const result = await runCli(["bridge", "--vm", vm, "--socket", `${suite.dir}/nobody.sock`]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(
        `Failed to use --vm '${vm}' since it is not a VM name: 1 to 64 letters, digits, '.', '_' or '-'`,
      );
      expect(result.stderr).toContain("Run 'ivsh bridge --help' to see the options.");
    });

  test("--channel= (empty) or longer than a ring's segment name allows: a usage error naming --channel", async () => {
    for (const command of [
      ["send", "/etc/hostname"],
      ["recv", "--out", `${suite.dir}/never.out`],
    ]) {
      for (const [channel, problem] of [
        ["", "it is empty"],
        ["c".repeat(237), "it is 237 bytes"],
      ] as const) {
        const result = await runCli(["guest", ...command, `--channel=${channel}`, "--socket", suite.socket]);
        expect(result.exitCode).toBe(2);
        expect(result.stderr).toContain(
          `Failed to use --channel '${channel}' since ${problem}: a channel name is 1 to 236 bytes`,
        );
      }
    }
    expect(existsSync(`${suite.dir}/never.out.partial`)).toBe(false);
    // The longest name accepted works end to end.
    const longest = "c".repeat(236);
    const env = { IVSH_SOCKET: suite.socket, IVSH_REGION: suite.region };
    const received = runCli(
      ["guest", "recv", "--channel", longest, "--out", `${suite.dir}/longest.out`],
      env,
    );
    const sent = await runCli(["guest", "send", "/etc/hostname", "--channel", longest], env);
    expect([sent.exitCode, (await received).exitCode]).toEqual([0, 0]);
    expect(readFileSync(`${suite.dir}/longest.out`, "utf8")).toBe(readFileSync("/etc/hostname", "utf8"));
  });

  test("no command at all is a usage error (exit 2) that shows the commands, as `ivsh guest` alone is", async () => {
    for (const words of [[], ["guest"]]) {
      const { stdout, exitCode } = await runCli(words);
      expect(exitCode).toBe(2);
      expect(stdout).toContain("USAGE ivsh");
    }
  });

  test("an unknown command is a usage error (exit 2)", async () => {
    const result = await runCli(["hots"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("Unknown command 'hots'");
    expect(result.stderr).toContain("Run 'ivsh --help' to see the commands.");
  });

  const badValues: [string[], RegExp][] = [
    [["--size", "12q"], /--size '12q' since it is not a size/],
    [["--block-size", "1000"], /--block-size 1000 since it is not a multiple of 4 KiB/],
    [["--lease", "soon"], /--lease 'soon' since it is not a duration/],
    // A bare number was seconds: `--lease 500` served a lease of 8 min 20 s.
    [["--lease", "500"], /--lease '500' since it has no unit: write one, e\.g\. 500ms or 500s/],
    [["--hello-wait", "5"], /--hello-wait '5' since it has no unit: write one, e\.g\. 5ms or 5s/],
    // A lease clients cannot keep (they heartbeat every sixth of it) is refused, not served.
    [
      ["--lease", "0"],
      /--lease 0 since it must be between 1s and 596 h 31 min \(clients heartbeat every sixth/,
    ],
    [["--lease", "10ms"], /--lease 10ms since it must be between 1s and 596 h 31 min/],
    [["--lease", "999ms"], /--lease 999ms since it must be between 1s and/],
    [["--lease", "600h"], /--lease 600h since it must be between 1s and 596 h 31 min/],
    [
      ["--hello-wait", "0"],
      /--hello-wait 0 since it must be between 250ms and 596 h 31 min \(a client says hello/,
    ],
    [["--hello-wait", "249ms"], /--hello-wait 249ms since it must be between 250ms and/],
    [["--size"], /--size needs a value: --size=SIZE/],
    // The hints name a size every check accepts (see "following a --size hint" below).
    [["--size", "5000"], /multiple of 4096 bytes \(a power of two, as QEMU needs: e\.g\. --size 256KiB\)/],
    [["--size", "64KiB"], /leaving no room for one 65536-byte block \(--size 256KiB or more fits one/],
  ];
  for (const [flags, message] of badValues)
    test(`host ${flags.join(" ")}: a usage error (exit 2), nothing created`, async () => {
      const region = `${suite.shmDir}/never`;
      const result = await runCli([
        "host",
        "--region",
        region,
        "--socket",
        `${suite.dir}/never.sock`,
        ...flags,
      ]);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toMatch(message);
      expect(await Bun.file(region).exists()).toBe(false);
    });

  // The flag the user typed is named, as every other refused value is (README: "an error that names it").
  const geometryValues: [string[], string][] = [
    [
      ["--block-size", "3000"],
      "Failed to use --block-size 3000 since it is not a multiple of 4 KiB up to 2 GiB",
    ],
    [["--slots", "2000000"], "Failed to use --slots 2000000 since it is more than 1048576"],
  ];
  /** `ivsh host FLAGS` on a region and socket that must never be made (a refusal comes first). */
  const hostRefused = (flags: string[]) =>
    runCli(["host", "--region", `${suite.shmDir}/never`, "--socket", `${suite.dir}/never.sock`, ...flags]);
  for (const [flags, says] of geometryValues)
    test(`host ${flags.join(" ")}: the error names the flag`, async () => {
      const result = await hostRefused(flags);
      expect(result.exitCode).toBe(2);
      expect(result.stderr).toContain(says);
    });

  test("host --slots 1048576, the most a region has, is not refused as more than that", async () => {
    const result = await hostRefused(["--slots", "1048576", "--size", "1MiB"]);
    expect(result.exitCode).toBe(2); // the region is too small for them: that is another refusal
    expect(result.stderr).not.toContain("more than 1048576");
  });

  test("host --block-size larger than --size: a smaller --block-size is offered, not fewer --slots", async () => {
    const result = await hostRefused(["--size", "16MiB", "--block-size", "32MiB"]);
    expect(result.exitCode).toBe(2);
    // Fewer slots cannot make room for a block larger than the region.
    expect(result.stderr).not.toContain("fewer --slots");
    expect(result.stderr).toContain("or a --block-size of at most 16316KiB");
  });

  test("a --size that is not a power of two is warned about (QEMU refuses it)", async () => {
    const result = await runCli([
      "host",
      "--region",
      `${suite.shmDir}/odd`,
      "--socket",
      suite.socket,
      "--size",
      "20MiB",
    ]);
    expect(result.stderr).toContain("--size 20MiB is not a power of two: QEMU's ivshmem device refuses");
    expect(result.stderr).toContain("(for VMs pass e.g. --size 32MiB)");
    expect(result.exitCode).toBe(1); // and the live socket refused it: nothing else changed
  });

  test("a decimal --size that is not a power of two is named as typed, with its size in MiB (not '250000KiB')", async () => {
    const region = `${suite.shmDir}/decimal`;
    const result = await runCli(["host", "--region", region, "--socket", suite.socket, "--size", "256MB"]);
    expect(result.stderr).toContain(
      "--size 256MB (244.1 MiB) is not a power of two: QEMU's ivshmem device refuses",
    );
    expect(result.stderr).not.toContain("250000KiB");
    expect(result.stderr).toContain("(for VMs pass e.g. --size 256MiB)");
    expect(result.exitCode).toBe(1); // the live socket refused it: no region was made
    expect(existsSync(region)).toBe(false);
  });

  const sizeHints: [flags: string[], hint: string][] = [
    [["--size", "1KiB"], "256KiB"],
    [["--size", "5000"], "256KiB"],
    [["--size", "4KiB"], "256KiB"],
    [["--size", "1KiB", "--block-size", "4KiB", "--slots", "1"], "16KiB"],
    [["--size", "1KiB", "--block-size", "1GiB"], "2GiB"],
    [["--size", "3000000000"], "4GiB"],
    [["--size", "20MiB"], "32MiB"],
  ];
  for (const [flags, hint] of sizeHints)
    test(`host ${flags.join(" ")}: following its --size hint (${hint}) passes every check`, async () => {
      const host = (size: string[]) =>
        runCli([
          "host",
          "--region",
          `${suite.shmDir}/hint-${flags.join("")}`,
          "--socket",
          suite.socket,
          ...flags.slice(2),
          ...size,
        ]);
      const first = await host(flags.slice(0, 2));
      const suggested = first.stderr.match(/--size (\S+?)\)? or more fits one|e\.g\. --size (\S+?)\)/);
      expect(suggested?.[1] ?? suggested?.[2]).toBe(hint);
      // Valid flag syntax, accepted by every check: only the live socket (another arbiter) stops it.
      const followed = await host(["--size", hint]);
      expect(followed.stderr).not.toContain("is not a power of two");
      expect(followed.stderr).toMatch(/another arbiter \(pid \d+, \S+\) is serving it/);
      expect(followed.exitCode).toBe(1);
    });

  test("an arbiter with one slot says '1 slot', not '1 slots'", async () => {
    const own = testPaths("one-slot");
    const host = await ArbiterProcess.start(own, { slots: "1" });
    try {
      await host.stop();
      expect(await host.spawned.stderr).toMatch(/blocks of 64\.0 KiB, 1 slot\) on /);
    } finally {
      await host.stop();
      own.cleanup();
    }
  });

  test("a restart that restored one session says '1 session restored', not '1 sessions'", async () => {
    const own = testPaths("restored");
    const host = await ArbiterProcess.start(own);
    try {
      const client = await connect({ socket: own.socket, region: own.region, name: "restored" });
      await host.kill9();
      await host.restart();
      await client.close();
      await host.stop();
      const started = (await host.spawned.stderr)
        .split("\n")
        .find((line) => line.includes("arbiter serving"));
      expect(started).toMatch(/, epoch 2, 1 session restored$/);
      // The lease it serves with is said too (the default here: the flag is not given).
      expect(started).toContain(" with a 5 s lease, epoch 2");
    } finally {
      await host.stop();
      own.cleanup();
    }
  });

  test("a second arbiter on a live socket is refused", async () => {
    const result = await runCli([
      "host",
      "--region",
      suite.region,
      "--socket",
      suite.socket,
      "--size",
      "16MiB",
    ]);
    expect(result.exitCode).toBe(1);
    // The pid to stop, found by the socket's listener in /proc.
    expect(result.stderr).toMatch(
      new RegExp(`another arbiter \\(pid ${suite.arbiter.pid}, \\S+\\) is serving it`),
    );
  });

  test("a second arbiter on the same region (another socket) is refused", async () => {
    const result = await runCli([
      "host",
      "--region",
      suite.region,
      "--socket",
      `${suite.dir}/other.sock`,
      "--size",
      "16MiB",
    ]);
    expect(result.exitCode).toBe(1);
    // The pid to stop, found by the region file's lock in /proc/locks.
    expect(result.stderr).toMatch(
      new RegExp(`another arbiter \\(pid ${suite.arbiter.pid}, \\S+\\) is serving this region`),
    );
  });

  test("a region file of another size is refused, not resized", async () => {
    const region = `${suite.shmDir}/sized`;
    await Bun.write(region, new Uint8Array(1 << 20));
    const result = await runCli([
      "host",
      "--region",
      region,
      "--socket",
      `${suite.dir}/other.sock`,
      "--size",
      "32MiB",
    ]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/already 1.00 MiB \(pass --size 1MiB,/);
  });

  test("a state file that cannot be read (a directory, another user's): named, why, what to do; nothing made", async () => {
    const region = `${suite.shmDir}/unread-state`;
    const host = (state: string) => [
      "host",
      "--region",
      region,
      "--socket",
      `${suite.dir}/unread.sock`,
      "--size",
      "1MiB",
      "--state",
      state,
    ];
    const directory = await runCli(host(suite.dir));
    expect(directory.exitCode).toBe(1);
    expect(directory.stderr).toContain(`Failed to read the state file ${suite.dir} since it is a directory`);
    expect(directory.stderr).toContain("pass --state FILE");
    expect(directory.stderr).not.toContain("    at ");
    expect(existsSync(region)).toBe(false);
    expect(existsSync(`${suite.dir}/unread.sock`)).toBe(false);
    // Unreadable by this user: the default REGION.state is 0600, so another user's arbiter meets it.
    if (process.getuid?.() !== 0 || !Bun.which("setpriv")) return;
    const shared = mkdtempSync("/tmp/ivsh-cli-state-");
    try {
      chmodSync(shared, 0o755);
      const state = `${shared}/root.state`;
      writeFileSync(state, '{"t":"begin"}\n', { mode: 0o600 });
      // A socket directory nobody may write to, so that the state is what is refused.
      const sockets = `${shared}/sockets`;
      mkdirSync(sockets, { mode: 0o777 });
      chmodSync(sockets, 0o777);
      const asNobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", process.execPath];
      const args = host(state).map((arg) => (arg.endsWith("unread.sock") ? `${sockets}/unread.sock` : arg));
      const proc = Bun.spawn([...asNobody, CLI, ...args], { stderr: "pipe", stdout: "ignore" });
      const [exitCode, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
      expect(exitCode, stderr).toBe(1);
      // Another user's journal is not taken over (src/host/ownership.ts), before it is even read.
      expect(stderr).toContain(`Failed to serve the state in ${state} since it belongs to root (uid 0)`);
      expect(stderr).toContain("run `ivsh host` as its owner");
      expect(stderr).not.toContain("    at ");
      expect(readFileSync(state, "utf8")).toBe('{"t":"begin"}\n');
      expect(readdirSync(shared).sort()).toEqual(["root.state", "sockets"]);
      expect(readdirSync(sockets)).toEqual([]);
      expect(existsSync(region)).toBe(false);
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
  });

  test("a --socket in a missing directory or too long for its .handover: named, the limit, nothing made", async () => {
    const region = `${suite.shmDir}/socket-checked`;
    const made = () => [region, `${region}.state`, `${region}.wake`].filter((path) => existsSync(path));
    const host = (socket: string) =>
      runCli(["host", "--region", region, "--size", "1MiB", "--socket", socket]);
    const missing = await host(`${suite.dir}/nodir/x.sock`);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain(
      `Failed to listen on --socket ${suite.dir}/nodir/x.sock since its directory ${suite.dir}/nodir does not exist`,
    );
    expect(missing.stderr).not.toContain(".handover");
    expect(made()).toEqual([]);
    // 103 bytes: a socket path may have 107, but the arbiter's SOCKET.handover needs 9 of them.
    const long = `${suite.dir}/${"s".repeat(103 - suite.dir.length - 6)}.sock`;
    expect(long.length).toBe(103);
    const tooLong = await host(long);
    expect(tooLong.exitCode).toBe(1);
    expect(tooLong.stderr).toContain(`Failed to listen on --socket ${long} since`);
    expect(tooLong.stderr).toContain("--socket may be at most 98 bytes");
    expect(made()).toEqual([]);
  });

  test("a start that cannot listen removes the region and state it created, and keeps ones that were there", async () => {
    const region = `${suite.shmDir}/unlistened`;
    const socket = `${suite.dir}/unlistened.sock`;
    // Not a socket where the hand-over socket goes: only binding finds out, after the region is made.
    mkdirSync(`${socket}.handover`);
    const host = () => runCli(["host", "--region", region, "--size", "1MiB", "--socket", socket]);
    const fresh = await host();
    expect(fresh.exitCode).toBe(1);
    expect(fresh.stderr).toContain("a file that is not a socket is in the way");
    expect([region, `${region}.state`, `${region}.wake`].filter((path) => existsSync(path))).toEqual([]);
    await Bun.write(region, new Uint8Array(1 << 20));
    await Bun.write(`${region}.wake`, "");
    const existing = await host();
    expect(existing.exitCode).toBe(1);
    expect(statSync(region).size).toBe(1 << 20);
    expect(existsSync(`${region}.wake`)).toBe(true);
    expect(existsSync(`${region}.state`)).toBe(false);
    // An empty region file an operator made (its group and mode set for the VMs) was there too: kept.
    rmSync(region);
    await Bun.write(region, "");
    const empty = await host();
    expect(empty.exitCode).toBe(1);
    expect(existsSync(region)).toBe(true);
  });

  test("status shows clients by VM, segments with holders and modes, locks with holders", async () => {
    const client = await connect({ socket: suite.socket, region: suite.region, name: "status-client" });
    await client.alloc(65536, { name: "shown", mode: "write-exclusive" });
    const mutex = await client.mutex("shown-lock");
    await mutex.lock();
    const text = await runCli(["status", "--socket", suite.socket]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(/host: 1 client \(#\d+\); 1 block allocated/);
    expect(text.stdout).toMatch(/client #\d+ status-client pid \d+ vm host/);
    expect(text.stdout).toMatch(/shown blocks \d+\+1 .* holders #\d+ write-exclusive/);
    expect(text.stdout).toMatch(/mutex 'shown-lock': held by #\d+/);
    expect(text.stdout).not.toContain("ivsh status");
    const json = await runCli(["status", "--socket", suite.socket, "--json"]);
    const report = JSON.parse(json.stdout);
    expect(report.epoch).toBe(1);
    expect(report.blocks.used).toBe(1);
    expect(report.clients).toHaveLength(1);
    expect(report.totals).toMatchObject({ clients: 1, connected: 1, segments: 1, sync: 1, vms: 1 });
    await client.close();
  });

  test("status --limit lists at most N of each and says how many it left out", async () => {
    const client = await connect({ socket: suite.socket, region: suite.region, name: "limited" });
    for (const name of ["one", "two", "three"]) await client.alloc(4096, { name });
    const text = await runCli(["status", "--socket", suite.socket, "--limit", "1"]);
    expect(text.exitCode).toBe(0);
    expect(text.stdout).toMatch(/^segments \(3\):\n {2}segment #\d+ one .*\n {2}… 2 more \(raise --limit/m);
    const totalsOnly = JSON.parse(
      (await runCli(["status", "--socket", suite.socket, "--limit", "0", "--json"])).stdout,
    );
    expect(totalsOnly.segments).toEqual([]);
    expect(totalsOnly.clients).toEqual([]);
    expect(totalsOnly.totals).toMatchObject({ segments: 3, clients: 1 });
    const refused = await runCli(["status", "--socket", suite.socket, "--limit", "1k"]);
    expect(refused.stderr).toMatch(/--limit '1k'.*not a whole number/);
    await client.close();
  });

  test("status --limit too large for one reply: refused saying which --limit fits, and that one works", async () => {
    const own = testPaths("status-large");
    const host = await ArbiterProcess.start(own, { size: "64MiB", blockSize: "4KiB" });
    const client = await connect({ socket: own.socket, region: own.region, name: "many" });
    try {
      for (let batch = 0; batch < 8; batch++)
        await Promise.all(
          Array.from({ length: 500 }, (_, index) =>
            client.alloc(4096, { name: `${batch}-${index}-${"n".repeat(200)}` }),
          ),
        );
      const refused = await runCli(["status", "--socket", own.socket, "--limit", "100000"]);
      expect(refused.exitCode).toBe(1);
      expect(refused.stderr).not.toContain("encode op");
      const hint = refused.stderr.match(
        /over the 1\.00 MiB one reply may hold: pass a smaller --limit \(--limit (\d+) fits/,
      );
      expect(hint).not.toBeNull();
      const followed = await runCli(["status", "--socket", own.socket, "--limit", hint![1]!]);
      expect(followed.exitCode).toBe(0);
      expect(followed.stdout).toMatch(/^segments \(4000\):/m);
    } finally {
      await client.close();
      await host.stop();
      own.cleanup();
    }
  });

  test("--exit-with-parent: an arbiter whose parent is killed -9 stops", async () => {
    const socket = `${suite.dir}/orphan.sock`;
    const host = `'${process.execPath}' '${CLI}' host --region ${suite.shmDir}/orphan --size 4MiB --socket ${socket} --exit-with-parent`;
    const shell = Bun.spawn(["sh", "-c", `${host} 2>/dev/null & echo $!; sleep 60`], { stdout: "pipe" });
    const reader = shell.stdout.getReader();
    const pid = Number(new TextDecoder().decode((await reader.read()).value).trim());
    for (let tries = 0; tries < 200 && !existsSync(socket); tries++) await Bun.sleep(25);
    expect(existsSync(socket)).toBe(true);
    shell.kill("SIGKILL");
    let alive = true;
    for (let tries = 0; tries < 200 && alive; tries++) {
      await Bun.sleep(25);
      alive = running(pid);
    }
    expect(alive).toBe(false);
  });

  test("status without an arbiter says where it looked and what to do", async () => {
    const result = await runCli(["status", "--socket", `${suite.dir}/nobody.sock`]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/nobody.sock .*start it with `ivsh host`/);
    // With --json, stdout is JSON even then, as send's and recv's are.
    const json = await runCli(["status", "--socket", `${suite.dir}/nobody.sock`, "--json"]);
    expect(json.exitCode).toBe(1);
    expect(JSON.parse(json.stdout).error.code).toBe("ArbiterUnreachable");
  });
});

/** A process that exited but is not reaped yet (a zombie) counts as gone. */
function running(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z");
  } catch {
    return false;
  }
}
