/** Transfers at the edges: files planted where the receiver writes, directories removed, frozen ends. */
import { describe, expect, test } from "bun:test";
import { lstatSync, mkdirSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fetchStatus } from "../src/guest/inspect.ts";
import { CLI, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, livenessBoundMs } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";
import { clientEnv, guest, outPath, randomFile, sameBytes, waitForSize } from "./helpers/transfer.ts";

const LEASE_MS = 2000;
const suite = sharedArbiter("xedge", { size: "64MiB", lease: `${LEASE_MS}ms` });

describe("transfer edges", () => {
  test("recv --force replaces a symlink planted at FILE.partial instead of writing through it", async () => {
    const precious = outPath(suite.paths, "precious");
    writeFileSync(precious, "precious\n");
    const output = outPath(suite.paths, "planted.out");
    symlinkSync(precious, `${output}.partial`);
    const data = await randomFile(outPath(suite.paths, "planted.in"), 256 << 10);
    const receiver = guest(suite.paths, ["recv", "--channel", "planted", "--out", output, "--force"]);
    const sender = guest(suite.paths, [
      "send",
      "-q",
      "--channel",
      "planted",
      outPath(suite.paths, "planted.in"),
    ]);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    expect(readFileSync(precious, "utf8")).toBe("precious\n");
    expect(lstatSync(output).isSymbolicLink()).toBe(false);
    expect(sameBytes(readFileSync(output), data)).toBe(true);
  });

  test("recv without --force refuses a symlink at FILE.partial, even one that points nowhere", async () => {
    const output = outPath(suite.paths, "dangling.out");
    const nowhere = outPath(suite.paths, "nowhere");
    symlinkSync(nowhere, `${output}.partial`);
    const receiver = guest(suite.paths, [
      "recv",
      "--channel",
      "dangling",
      "--out",
      output,
      "--timeout",
      "1s",
    ]);
    expect(await receiver.exit()).toBe(1);
    expect(await receiver.stderr).toContain(`${output}.partial exists`);
    expect(await Bun.file(nowhere).exists()).toBe(false);
  });

  for (const role of ["send", "recv"] as const)
    test(`${role} --timeout: an arbiter killed while it waits for its peer ends the wait at the limit, naming the arbiter`, async () => {
      const channel = `lost-arbiter-${role}`;
      const input = outPath(suite.paths, `${channel}.in`);
      await randomFile(input, 64 << 10);
      const args = role === "send" ? [input] : ["--out", outPath(suite.paths, `${channel}.out`)];
      const end = guest(suite.paths, [role, ...args, "--channel", channel, "--timeout", "3s"]);
      // Waiting on the channel: its slot is open.
      await eventually(
        async () =>
          (await fetchStatus({ unix: suite.socket })).report.sync.some((slot) => slot.name.includes(channel)),
        20_000,
        `the ${role} end opening its channel`,
      );
      await suite.arbiter.kill9();
      // Before, it waited out the 30 s reconnect timeout and then blamed the peer.
      expect(await end.exit(20_000)).toBe(1);
      const stderr = await end.stderr;
      expect(stderr).toMatch(
        /the arbiter went away \(connection lost\) and did not come back in the [\d.]+ m?s it was waited for \(--timeout 3 s\)/,
      );
      expect(stderr).not.toContain("showed up");
    });

  test("a receiver frozen past its lease says its lease expired, not that the region was overwritten", async () => {
    const output = outPath(suite.paths, "frozen.out");
    const receiver = guest(suite.paths, ["recv", "--channel", "frozen", "--out", output]);
    const sender = guest(suite.paths, ["send", "-", "--channel", "frozen", "--chunk-size", "64KiB"]);
    sender.proc.stdin.write(new Uint8Array(1 << 20).fill(3));
    await sender.proc.stdin.flush();
    await waitForSize(`${output}.partial`, 1 << 20);
    receiver.proc.kill("SIGSTOP");
    try {
      // The arbiter expires the frozen receiver; its sender, told so, gives the channel up.
      expect(await sender.exit(livenessBoundMs(LEASE_MS))).toBe(1);
    } finally {
      receiver.proc.kill("SIGCONT");
    }
    expect(await receiver.exit(livenessBoundMs(LEASE_MS))).toBe(1);
    const stderr = await receiver.stderr;
    expect(stderr).toContain("(lease expired)");
    expect(stderr).not.toContain("overwritten");
  });

  test("a sender frozen past its lease says its lease expired, not that its receiver left or the region was overwritten", async () => {
    const output = outPath(suite.paths, "frozen-sender.out");
    const receiver = guest(suite.paths, ["recv", "--channel", "frozen-sender", "--out", output]);
    const sender = guest(suite.paths, ["send", "-", "--channel", "frozen-sender", "--chunk-size", "64KiB"]);
    // Far more than the ring (8 × 64 KiB) holds, and the pipe never closed: the stream goes on.
    sender.proc.stdin.write(new Uint8Array(8 << 20).fill(4));
    await sender.proc.stdin.flush();
    await waitForSize(`${output}.partial`, 64 << 10);
    // The receiver paused, the ring fills and the sender waits for space; frozen there past its lease,
    // it wakes to find its slot reset by the arbiter.
    receiver.proc.kill("SIGSTOP");
    await Bun.sleep(300);
    sender.proc.kill("SIGSTOP");
    receiver.proc.kill("SIGCONT");
    try {
      expect(await receiver.exit(livenessBoundMs(LEASE_MS))).toBe(1);
    } finally {
      sender.proc.kill("SIGCONT");
    }
    expect(await sender.exit(livenessBoundMs(LEASE_MS))).toBe(1);
    const stderr = await sender.stderr;
    expect(stderr).toContain("(lease expired)");
    expect(stderr).not.toContain("overwritten");
    expect(stderr).not.toContain("went away");
  });

  test("an output directory removed during the transfer: a named error, and no claim that bytes are left", async () => {
    const directory = outPath(suite.paths, "vanish");
    mkdirSync(directory);
    const output = join(directory, "o7");
    const receiver = guest(suite.paths, ["recv", "--channel", "vanish", "--out", output]);
    const sender = guest(suite.paths, ["send", "-", "--channel", "vanish", "--chunk-size", "64KiB"]);
    sender.proc.stdin.write(new Uint8Array(1 << 20).fill(5));
    await sender.proc.stdin.flush();
    await waitForSize(`${output}.partial`, 1 << 20);
    rmSync(directory, { recursive: true });
    sender.proc.stdin.end();
    expect(await receiver.exit()).toBe(1);
    await sender.exit();
    const stderr = await receiver.stderr;
    expect(stderr).toContain(
      `the output directory ${directory}/ was removed during the transfer; nothing kept`,
    );
    expect(stderr).not.toContain("are left in");
  });

  test("a ring the client's quota refuses suggests a larger --client-quota, not a larger --size", async () => {
    const quotaPaths = testPaths("xquota");
    const quota = await ArbiterProcess.start(quotaPaths, { extra: ["--client-quota", "2MiB"] });
    try {
      // A ring of the user's shape: the default one halves until the quota holds it (ring-fits-small-region).
      const shape = ["--chunk-size", "1MiB", "--depth", "8"];
      const sender = guest(quotaPaths, ["send", "-", "--channel", "quota", "--timeout", "1s", ...shape]);
      sender.proc.stdin.end();
      expect(await sender.exit()).toBe(1);
      const stderr = await sender.stderr;
      expect(stderr).toContain("of its quota of");
      expect(stderr).toContain("or start the arbiter with a larger --client-quota");
      expect(stderr).not.toContain("--size");
    } finally {
      await quota.stop();
      quotaPaths.cleanup();
    }
  });

  test("no slot left for a channel: the error names the channel, not its internal slot name", async () => {
    const slotPaths = testPaths("xslots");
    const small = await ArbiterProcess.start(slotPaths, { slots: "1" });
    const first = guest(slotPaths, [
      "recv",
      "--channel",
      "one",
      "--out",
      outPath(suite.paths, "slots-one.out"),
    ]);
    try {
      await eventually(
        async () => (await fetchStatus({ unix: slotPaths.socket })).report.sync.length === 1,
        20_000,
        "the first receiver opening its channel",
      );
      const second = guest(slotPaths, [
        "recv",
        "--channel",
        "two",
        "--out",
        outPath(suite.paths, "slots-two.out"),
      ]);
      expect(await second.exit()).toBe(1);
      const stderr = await second.stderr;
      expect(stderr).toContain("Failed to receive on channel 'two' since its only slot is in use");
      expect(stderr).not.toContain("channel:two");
    } finally {
      first.proc.kill("SIGTERM");
      await first.exit();
      await small.stop();
      slotPaths.cleanup();
    }
  });
});

test("recv --out - into a full device: the error names stdout, not '-'", async () => {
  const input = join(suite.dir, "to-full");
  await randomFile(input, 256 << 10);
  const receiver = Bun.spawn([process.execPath, CLI, "guest", "recv", "--channel", "full", "--out", "-"], {
    stdout: Bun.file("/dev/full"),
    stderr: "pipe",
    env: { ...process.env, ...clientEnv(suite.paths), NO_COLOR: "1" },
  });
  const sender = guest(suite.paths, ["send", input, "--channel", "full"]);
  expect(await receiver.exited).toBe(1);
  expect(await new Response(receiver.stderr).text()).toContain(
    "Failed to write stdout since its file system is full (ENOSPC)",
  );
  expect(await sender.exit()).not.toBe(0);
});

testUnless(
  process.getuid?.() === 0 ? toolMissing("mount") : "only root can mount a small tmpfs to fill",
  "a file system smaller than one chunk: the error counts the bytes that reached it, not 0 B",
  async () => {
    const small = join(suite.dir, "smaller-than-a-chunk");
    mkdirSync(small);
    Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", small]);
    try {
      const input = join(suite.dir, "chunk-too-big.in");
      await randomFile(input, 2 << 20);
      const receiver = guest(suite.paths, ["recv", "--channel", "small-fs", "--out", join(small, "out")]);
      const sender = guest(suite.paths, ["send", input, "--channel", "small-fs", "--chunk-size", "1MiB"]);
      expect([await receiver.exit(), await sender.exit()]).toEqual([1, 1]);
      // Before, "full (ENOSPC) after 0 B": half a megabyte had reached it, in a chunk that did not fit.
      expect(await receiver.stderr).toMatch(/is full \(ENOSPC\) after [1-9][\d.]* KiB/);
      expect(readdirSync(small)).toEqual([]);
    } finally {
      Bun.spawnSync(["umount", small]);
    }
  },
);
