/** The command line: strict flags and clear errors of the guest commands, status output. */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
import { testPaths } from "./helpers/paths.ts";
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
    // The socket named too (found by a trial: `ivsh host` alone makes /tmp/ivsh.sock, not this one).
    expect(result.stderr).toContain(
      `since no socket exists there (ENOENT) (start it with \`ivsh host --socket ${suite.dir}/nobody.sock\``,
    );
    expect(result.stderr).not.toContain("since Failed to connect");
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

  // Found by a trial: told "start `ivsh host`" (which makes /dev/shm/ivsh) while an arbiter ran; the
  // region it serves was what the user needed.
  test("a --region that does not exist, an arbiter running: where to find the one it serves", async () => {
    const missing = `${suite.dir}/no-such-region`;
    const result = await runCli([
      "guest",
      "send",
      "/etc/hostname",
      "--socket",
      suite.socket,
      "--region",
      missing,
    ]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(
      `map the region ${missing} since it does not exist (pass the --region of the arbiter meant, which ` +
        `\`ivsh status\` names, or start \`ivsh host --region ${missing}\` to make it;`,
    );
  });

  test("status without an arbiter says where it looked and what to do", async () => {
    const result = await runCli(["status", "--socket", `${suite.dir}/nobody.sock`]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/nobody.sock .*start it with `ivsh host --socket \S+nobody.sock`/);
    // With --json, stdout is JSON even then, as send's and recv's are.
    const json = await runCli(["status", "--socket", `${suite.dir}/nobody.sock`, "--json"]);
    expect(json.exitCode).toBe(1);
    expect(JSON.parse(json.stdout).error.code).toBe("ArbiterUnreachable");
  });
});
