/**
 * `ivsh host`'s flag values: refused as usage errors naming the flag (nothing created), warned about, or
 * said in the right number.
 */
import { describe, expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, runCli } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("cli-host-flags");

describe("ivsh CLI", () => {
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
      /--lease 0 since it is shorter than 1s, the least --lease takes \(clients heartbeat every sixth/,
    ],
    [["--lease", "10ms"], /--lease 10ms since it is shorter than 1s, the least --lease takes/],
    [["--lease", "999ms"], /--lease 999ms since it is shorter than 1s/],
    [
      ["--lease", "600h"],
      /--lease 600h since it is longer than 2147483647ms \(about 596h\), the longest a timer can wait$/m,
    ],
    [
      ["--lease", "-5s"],
      /--lease '-5s' since it has a sign: --lease takes a positive duration, 1s or more, written without one, like 5s or 250ms/,
    ],
    [["--lease", "-0"], /--lease '-0' since it has a sign: --lease takes a positive duration, 1s or more,/],
    [
      ["--hello-wait", "0"],
      /--hello-wait 0 since it is shorter than 250ms, the least --hello-wait takes \(a client says hello/,
    ],
    [["--hello-wait", "249ms"], /--hello-wait 249ms since it is shorter than 250ms/],
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
});
