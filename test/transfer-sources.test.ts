/**
 * Where `ivsh guest send` reads from: sizes around the digest's piece and the chunk, files on tmpfs and on
 * a disk, a /proc file whose size says nothing, and a file that changes while it is sent (the transfer
 * fails, the receiver keeps no copy). Every case is two separate `ivsh guest` processes.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import {
  appendFileSync,
  closeSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statfsSync,
  truncateSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { DIGEST_PIECE_BYTES } from "../src/transfer/digest.ts";
import { REPO, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { testUnless } from "./helpers/tools.ts";
import { guest, outPath, randomFile, roundTrip, sameBytes, slug } from "./helpers/transfer.ts";

const MIB = 1 << 20;
const TMPFS_MAGIC = 0x01021994;
let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("sources");
  arbiter = await ArbiterProcess.start(paths, { size: "64MiB" });
});
beforeEach(() => arbiter.revive());
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

describe("bit-exact round trips with 1 MiB chunks, around a digest piece and a chunk", () => {
  for (const [label, bytes] of [
    ["piece - 1", DIGEST_PIECE_BYTES - 1],
    ["piece", DIGEST_PIECE_BYTES],
    ["piece + 1", DIGEST_PIECE_BYTES + 1],
    ["chunk - 1", MIB - 1],
    ["chunk + 1", MIB + 1],
  ] as const)
    test(label, () => roundTrip(paths, `sized-${slug(label)}`, bytes, { chunk: MIB }));
});

describe("sources on different file systems", () => {
  test("a file on tmpfs", () =>
    roundTrip(paths, "on-tmpfs", 3 * MIB + 5, { chunk: MIB, inputDir: paths.shmDir }));

  const diskParent = [REPO, "/var/tmp", "/tmp"].find((dir) => statfsSync(dir).type !== TMPFS_MAGIC);
  const noDisk = diskParent
    ? undefined
    : "every candidate directory (the checkout, /var/tmp, /tmp) is on tmpfs here, so no file is on a disk";
  testUnless(noDisk, "a file on a disk (not tmpfs)", async () => {
    const dir = mkdtempSync(join(diskParent as string, ".ivsh-disk-source-"));
    try {
      await roundTrip(paths, "on-disk", 3 * MIB + 5, { chunk: MIB, inputDir: dir });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a /proc file (its size says 0) is read to its end", async () => {
    const output = outPath(paths, "proc.out");
    const receiver = guest(paths, ["recv", "--channel", "proc", "--out", output]);
    const sender = guest(paths, ["send", "/proc/filesystems", "--channel", "proc"]);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    const sent = readFileSync("/proc/filesystems");
    expect(sent.byteLength).toBeGreaterThan(0);
    expect(sameBytes(new Uint8Array(readFileSync(output)), new Uint8Array(sent))).toBe(true);
  });
});

describe("a file that changes while it is sent fails the transfer; the receiver keeps no copy", () => {
  const changes: [string, (file: string) => void, RegExp][] = [
    [
      "grows",
      (file) => appendFileSync(file, "one more line\n"),
      /its size went from 33554432 to 33554446 bytes/,
    ],
    ["shrinks", (file) => truncateSync(file, 16 * MIB), /it ended after 16777216 of its 33554432 bytes/],
    ["is written in place", (file) => overwrite(file, 20 * MIB, "scribble"), /it was written to/],
  ];
  for (const [label, change, reason] of changes)
    test(label, async () => {
      const channel = `changing-${slug(label)}`;
      const input = join(paths.dir, `${channel}.in`);
      const output = outPath(paths, `${channel}.out`);
      await randomFile(input, 32 * MIB);
      // The sender opens the file, fills the ring (8 MiB) and waits: no receiver yet.
      const sender = guest(paths, ["send", input, "--channel", channel, "--block-size", "1MiB"]);
      await waitUntilOpen(sender.proc.pid, input);
      change(input);
      const receiver = guest(paths, ["recv", "--channel", channel, "--out", output]);
      expect(await sender.exit()).toBe(1);
      expect(await sender.stderr).toMatch(new RegExp(`Failed to send ${input} since ${reason.source}`));
      expect(await sender.stderr).toContain("the receiver keeps no copy");
      expect(await receiver.exit()).not.toBe(0);
      expect(await Bun.file(output).exists()).toBe(false);
    });
});

describe("receiving into files", () => {
  test("an existing --out is refused without --force and kept as it was; with --force it is replaced", async () => {
    const input = join(paths.dir, "replace.in");
    const output = outPath(paths, "replace.out");
    const data = await randomFile(input, 10_000);
    await Bun.write(output, "the old contents");
    const refused = guest(paths, ["recv", "--channel", "replace", "--out", output]);
    expect(await refused.exit()).toBe(1);
    expect(await refused.stderr).toMatch(
      /Failed to write .*replace\.out since the file already exists \(pass --force/,
    );
    expect(await Bun.file(output).text()).toBe("the old contents");
    const receiver = guest(paths, ["recv", "--channel", "replace", "--out", output, "--force"]);
    const sender = guest(paths, ["send", input, "--channel", "replace"]);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
    // One record: the summary says "1 chunk", not "1 chunks".
    expect(await sender.stderr).toContain("1 chunk of up to");
  });

  test("a receiver stopped before any data arrived leaves no FILE.partial", async () => {
    const output = outPath(paths, "nothing.out");
    const receiver = guest(paths, ["recv", "--channel", "nobody-sends", "--out", output]);
    await waitUntilOpen(receiver.proc.pid, `${output}.partial`);
    receiver.proc.kill("SIGINT");
    expect(await receiver.exit()).toBe(130);
    // The channel by its name, not '?'.
    expect(await receiver.stderr).toContain("channel 'nobody-sends' since it was interrupted by SIGINT");
    expect(await Bun.file(`${output}.partial`).exists()).toBe(false);
    expect(await Bun.file(output).exists()).toBe(false);
  });

  test("a missing FILE or --out directory is named as such", async () => {
    const missing = guest(paths, ["send", join(paths.dir, "no-such-file"), "--channel", "missing"]);
    expect(await missing.exit()).toBe(1);
    expect(await missing.stderr).toMatch(
      /no-such-file since there is no such file or directory \(FILE names the file to send/,
    );
    const nowhere = guest(paths, ["recv", "--channel", "missing", "--out", join(paths.dir, "no-dir", "out")]);
    expect(await nowhere.exit()).toBe(1);
    expect(await nowhere.stderr).toMatch(
      /there is no such file or directory \(--out names the file to write/,
    );
  });
});

describe("--timeout: how long an end waits for the other to show up", () => {
  test("a receiver with no sender gives up, exit 1, naming the limit; no file left", async () => {
    const output = outPath(paths, "lonely.out");
    const receiver = guest(paths, ["recv", "--channel", "lonely", "--out", output, "--timeout", "300ms"]);
    expect(await receiver.exit()).toBe(1);
    expect(await receiver.stderr).toContain(
      "Failed to receive on channel 'lonely' since no sender showed up within 300 ms (--timeout)",
    );
    expect(await Bun.file(`${output}.partial`).exists()).toBe(false);
  });

  for (const [label, bytes] of [
    ["a file larger than the ring (it waits for space)", 12 * MIB],
    ["a file the ring holds (it waits for the verdict)", 4096],
  ] as const)
    test(`a sender with no receiver gives up: ${label}`, async () => {
      const channel = `unheard-${bytes}`;
      const input = join(paths.dir, `${channel}.in`);
      await randomFile(input, bytes);
      const sender = guest(paths, ["send", input, "--channel", channel, "--timeout", "300ms"]);
      expect(await sender.exit()).toBe(1);
      expect(await sender.stderr).toContain(
        `Failed to send on channel '${channel}' since no receiver showed up within 300 ms (--timeout)`,
      );
      // The channel is free again: a sender and receiver after it meet normally.
      const output = outPath(paths, `${channel}.out`);
      const receiver = guest(paths, ["recv", "--channel", channel, "--out", output]);
      const again = guest(paths, ["send", input, "--channel", channel, "--timeout", "60s"]);
      expect([await again.exit(), await receiver.exit()]).toEqual([0, 0]);
    });

  test("once both ends are there, --timeout does not limit the transfer (a pipe fed for longer)", async () => {
    const output = outPath(paths, "slow-pipe.out");
    const receiver = guest(paths, ["recv", "--channel", "slow-pipe", "--out", output, "--timeout", "10s"]);
    await waitUntilOpen(receiver.proc.pid, `${output}.partial`); // it is up before the sender starts
    const sender = guest(paths, ["send", "-", "--channel", "slow-pipe", "--timeout", "1s"]);
    const piece = new Uint8Array(100_000).fill(9);
    // Fed over about two seconds, twice the sender's limit, after both ends have met.
    for (let round = 0; round < 10; round++) {
      sender.proc.stdin.write(piece);
      await sender.proc.stdin.flush();
      await Bun.sleep(200);
    }
    await sender.proc.stdin.end();
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    expect(Bun.file(output).size).toBe(1_000_000);
  });

  test("a --timeout that is not a duration is a usage error", async () => {
    const sender = guest(paths, ["send", "/etc/hostname", "--timeout", "soon"]);
    expect(await sender.exit()).toBe(2);
    expect(await sender.stderr).toContain("--timeout 'soon' since it is not a duration");
  });
});

describe("progress and quiet", () => {
  test("--progress off a terminal: plain lines (no escape codes), with total and percent", async () => {
    const input = join(paths.dir, "shown.in");
    await randomFile(input, 3 * MIB);
    const output = outPath(paths, "shown.out");
    const receiver = guest(paths, ["recv", "--channel", "shown", "--out", output, "--progress"]);
    const sender = guest(paths, ["send", input, "--channel", "shown", "--progress"]);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    const text = `${await sender.stderr}${await receiver.stderr}`;
    expect(text).not.toContain("\x1b[");
    expect(await sender.stderr).toMatch(/send .*shown\.in: \d+% .* \/ 3\.00 MiB /);
    // The receiver knows the total too: the sender announces it on each record.
    expect(await receiver.stderr).toMatch(/recv .*shown\.out: \d+% .* \/ 3\.00 MiB /);
  });

  test("a sender with no receiver says what it waits for", async () => {
    const input = join(paths.dir, "waiting.in");
    await randomFile(input, 12 * MIB);
    const sender = guest(paths, ["send", input, "--channel", "waiting", "--progress", "--timeout", "1s"]);
    expect(await sender.exit()).toBe(1);
    expect(await sender.stderr).toContain("waiting for a receiver on channel 'waiting'...");
  });

  test("--quiet: a transfer that succeeds prints nothing", async () => {
    const input = join(paths.dir, "hushed.in");
    await randomFile(input, 100_000);
    const output = outPath(paths, "hushed.out");
    const receiver = guest(paths, ["recv", "--channel", "hushed", "--out", output, "-q"]);
    const sender = guest(paths, ["send", input, "--channel", "hushed", "--quiet"]);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    expect(`${await sender.stderr}${await receiver.stderr}`).toBe("");
  });
});

function overwrite(file: string, position: number, text: string): void {
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, text, position);
  } finally {
    closeSync(fd);
  }
}

/** Waits (20 s at most: a liveness bound) until process `pid` has `file` open. */
async function waitUntilOpen(pid: number, file: string): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      const fds = readdirSync(`/proc/${pid}/fd`);
      if (fds.some((fd) => safeReadlink(`/proc/${pid}/fd/${fd}`) === file)) return;
    } catch {
      // not started yet, or gone: the exit check after this reports which
    }
    await Bun.sleep(10);
  }
  throw new Error(`process ${pid} did not open ${file} within 20 s`);
}

function safeReadlink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}
