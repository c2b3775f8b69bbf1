/**
 * Where `ivsh guest send` reads from: sizes around the digest's piece and the chunk, files on tmpfs and on
 * a disk, a /proc file whose size says nothing, and a file that changes while it is sent (the transfer
 * fails, the receiver keeps no copy). Every case is two separate `ivsh guest` processes.
 */
import { describe, expect, test } from "bun:test";
import {
  appendFileSync,
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statfsSync,
  statSync,
  truncateSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { addressOf } from "../src/ffi/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { DIGEST_PIECE_BYTES } from "../src/transfer/digest.ts";
import { DEFAULT_CHUNK_BYTES, DEFAULT_DEPTH } from "../src/transfer/ring-setup.ts";
import { FILE_RING } from "../src/transfer/run.ts";
import { Sink } from "../src/transfer/sink.ts";
import { CLI, REPO } from "./helpers/paths.ts";
import { eventually } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless, testWithTool } from "./helpers/tools.ts";
import { clientEnv, guest, outPath, randomFile, roundTrip, sameBytes, slug } from "./helpers/transfer.ts";

const MIB = 1 << 20;
const TMPFS_MAGIC = 0x01021994;
const suite = sharedArbiter("sources", { size: "64MiB" });

describe("bit-exact round trips with 1 MiB chunks, around a digest piece and a chunk", () => {
  for (const [label, bytes] of [
    ["piece - 1", DIGEST_PIECE_BYTES - 1],
    ["piece", DIGEST_PIECE_BYTES],
    ["piece + 1", DIGEST_PIECE_BYTES + 1],
    ["chunk - 1", MIB - 1],
    ["chunk + 1", MIB + 1],
  ] as const)
    test(label, () => roundTrip(suite.paths, `sized-${slug(label)}`, bytes, { chunk: MIB }));
});

describe("a regular file without --chunk-size or --depth: 4 MiB chunks, depth 2 (the same 8 MiB ring)", () => {
  for (const [label, bytes] of [
    ["chunk - 1", 4 * MIB - 1],
    ["chunk + 1", 4 * MIB + 1],
    ["two chunks and a piece", 9 * MIB + 5],
  ] as const)
    test(label, async () => {
      expect(await roundTrip(suite.paths, `file-ring-${slug(label)}`, bytes, {})).toEqual(FILE_RING);
    });

  test("a pipe keeps the default ring: its reads return what is there, rarely a whole chunk", async () => {
    const output = outPath(suite.paths, "pipe-ring.out");
    const data = new Uint8Array(3 * MIB + 7).map((_, index) => (index * 31 + 7) & 0xff);
    const receiver = guest(suite.paths, ["recv", "--channel", "pipe-ring", "--out", output]);
    const sender = guest(suite.paths, ["send", "-", "--channel", "pipe-ring", "--json"]);
    await sender.proc.stdin.write(data);
    await sender.proc.stdin.end();
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    await sender.events.finished;
    const summary = JSON.parse(sender.events.lines.at(-1)!);
    expect({ chunkBytes: summary.chunkBytes, depth: summary.depth }).toEqual({
      chunkBytes: DEFAULT_CHUNK_BYTES,
      depth: DEFAULT_DEPTH,
    });
    expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
  });
});

describe("sources on different file systems", () => {
  test("a file on tmpfs", () =>
    roundTrip(suite.paths, "on-tmpfs", 3 * MIB + 5, { chunk: MIB, inputDir: suite.shmDir }));

  const diskParent = [REPO, "/var/tmp", "/tmp"].find((dir) => statfsSync(dir).type !== TMPFS_MAGIC);
  const noDisk = diskParent
    ? undefined
    : "every candidate directory (the checkout, /var/tmp, /tmp) is on tmpfs here, so no file is on a disk";
  testUnless(noDisk, "a file on a disk (not tmpfs)", async () => {
    const dir = mkdtempSync(join(diskParent as string, ".ivsh-disk-source-"));
    try {
      await roundTrip(suite.paths, "on-disk", 3 * MIB + 5, { chunk: MIB, inputDir: dir });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("a /proc file (its size says 0) is read to its end", async () => {
    const output = outPath(suite.paths, "proc.out");
    const receiver = guest(suite.paths, ["recv", "--channel", "proc", "--out", output]);
    const sender = guest(suite.paths, ["send", "/proc/filesystems", "--channel", "proc"]);
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
      const input = join(suite.dir, `${channel}.in`);
      const output = outPath(suite.paths, `${channel}.out`);
      await randomFile(input, 32 * MIB);
      // The sender opens the file, fills the ring (8 MiB) and waits: no receiver yet. The change comes
      // once it has read into the ring (so after it took the file's size and time when it opened it).
      const sender = guest(suite.paths, ["send", input, "--channel", channel, "--chunk-size", "1MiB"]);
      await waitUntilOpen(sender.proc.pid, input, MIB);
      change(input);
      const receiver = guest(suite.paths, ["recv", "--channel", channel, "--out", output]);
      expect(await sender.exit()).toBe(1);
      expect(await sender.stderr).toMatch(new RegExp(`Failed to send ${input} since ${reason.source}`));
      // Not "no copy": the receiver says what arrived is left in FILE.partial, unverified.
      expect(await sender.stderr).toContain("the receiver keeps no verified copy");
      expect(await receiver.exit()).not.toBe(0);
      expect(await Bun.file(output).exists()).toBe(false);
    });
});

describe("receiving into files", () => {
  test("an existing --out is refused without --force and kept as it was; with --force it is replaced", async () => {
    const input = join(suite.dir, "replace.in");
    const output = outPath(suite.paths, "replace.out");
    const data = await randomFile(input, 10_000);
    await Bun.write(output, "the old contents");
    const refused = guest(suite.paths, ["recv", "--channel", "replace", "--out", output]);
    expect(await refused.exit()).toBe(1);
    expect(await refused.stderr).toMatch(
      /Failed to write .*replace\.out since the file already exists \(pass --force/,
    );
    expect(await Bun.file(output).text()).toBe("the old contents");
    const receiver = guest(suite.paths, ["recv", "--channel", "replace", "--out", output, "--force"]);
    const sender = guest(suite.paths, ["send", input, "--channel", "replace"]);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
    // One record: the summary says "1 chunk", not "1 chunks".
    expect(await sender.stderr).toContain("1 chunk of up to");
  });

  test("a file replaced with --force keeps its permissions (a private file stays private)", async () => {
    const input = join(suite.dir, "private.in");
    const output = outPath(suite.paths, "private.out");
    await randomFile(input, 1000);
    await Bun.write(output, "old secret");
    chmodSync(output, 0o600);
    const receiver = guest(suite.paths, ["recv", "--channel", "private", "--out", output, "--force"]);
    const sender = guest(suite.paths, ["send", input, "--channel", "private"]);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    expect((statSync(output).mode & 0o777).toString(8)).toBe("600");
  });

  for (const [signal, code] of [
    ["SIGINT", 130],
    ["SIGHUP", 129],
  ] as const)
    test(`a receiver stopped by ${signal} before any data arrived leaves no FILE.partial, exit ${code}`, async () => {
      const output = outPath(suite.paths, `nothing-${signal}.out`);
      const receiver = guest(suite.paths, ["recv", "--channel", `nobody-sends-${signal}`, "--out", output]);
      await waitUntilOpen(receiver.proc.pid, `${output}.partial`);
      // Waiting for a sender on its channel (a signal during the hello is told as such, not as the
      // channel's). Its channel's slot, not its session: the arbiter lists a session as soon as it
      // answered the hello, while the receiver may still be reading that answer (a flake under load).
      const waiting = async () =>
        (await fetchStatus({ unix: suite.socket })).report.sync.some((slot) =>
          slot.name.includes(`nobody-sends-${signal}`),
        );
      await eventually(waiting, 20_000, "the receiver opening its channel");
      receiver.proc.kill(signal);
      expect(await receiver.exit()).toBe(code);
      // The channel by its name, not '?'.
      expect(await receiver.stderr).toContain(
        `channel 'nobody-sends-${signal}' since it was interrupted by ${signal}`,
      );
      expect(await Bun.file(`${output}.partial`).exists()).toBe(false);
      expect(await Bun.file(output).exists()).toBe(false);
    });

  test("a missing FILE or --out directory is named as such", async () => {
    const missing = guest(suite.paths, ["send", join(suite.dir, "no-such-file"), "--channel", "missing"]);
    expect(await missing.exit()).toBe(1);
    expect(await missing.stderr).toMatch(
      /no-such-file since there is no such file or directory \(FILE names the file to send/,
    );
    const nowhere = guest(suite.paths, [
      "recv",
      "--channel",
      "missing",
      "--out",
      join(suite.dir, "no-dir", "out"),
    ]);
    expect(await nowhere.exit()).toBe(1);
    expect(await nowhere.stderr).toMatch(
      /there is no such file or directory \(--out names the file to write/,
    );
  });
});

test("a reader of stdout that closes early (| head) is named as such; the sender is told the receiver left", async () => {
  const input = join(suite.dir, "early-close.in");
  await randomFile(input, 8 << 20);
  const pipeline = `"${process.execPath}" "${CLI}" guest recv --channel early-close --out - | head -c 1000 >/dev/null`;
  const receiver = Bun.spawn(["bash", "-o", "pipefail", "-c", pipeline], {
    env: { ...process.env, ...clientEnv(suite.paths) },
    stderr: "pipe",
  });
  const sender = guest(suite.paths, ["send", input, "--channel", "early-close"]);
  const [receiverExit, receiverErr, senderExit] = await Promise.all([
    receiver.exited,
    new Response(receiver.stderr).text(),
    sender.exit(),
  ]);
  expect([receiverExit, senderExit]).toEqual([1, 1]);
  expect(receiverErr).toMatch(
    /write the stream to stdout since the program reading it closed its end after \d+ bytes/,
  );
});

describe("the receiving file's life: FILE.partial, keep, undo", () => {
  function sinkWriting(output: string, text: string, force: boolean): Sink {
    const sink = Sink.open(output, { force });
    const bytes = new TextEncoder().encode(text);
    sink.write(addressOf(bytes), bytes.byteLength);
    return sink;
  }

  test("--force over a read-only file: the copy is private and writable while written, takes the old mode when kept", () => {
    const output = outPath(suite.paths, "read-only.out");
    writeFileSync(output, "the old contents");
    chmodSync(output, 0o444);
    const failed = sinkWriting(output, "a copy that fails", true);
    // Left for inspection: this user's alone, and writable, so the next --force can start it again.
    expect(failed.abandon()).toBe(`${output}.partial`);
    expect((statSync(`${output}.partial`).mode & 0o777).toString(8)).toBe("600");
    const retry = sinkWriting(output, "the new contents", true);
    retry.keep();
    retry.settle();
    expect(readFileSync(output, "utf8")).toBe("the new contents");
    expect((statSync(output).mode & 0o777).toString(8)).toBe("444");
  });

  test("--force, and the verdict undone after the keep: the replaced file is back, the new copy in FILE.partial", () => {
    const output = outPath(suite.paths, "undo.out");
    writeFileSync(output, "the old contents");
    const sink = sinkWriting(output, "the new contents", true);
    sink.keep();
    expect(readFileSync(output, "utf8")).toBe("the new contents");
    sink.unkeep();
    expect(readFileSync(output, "utf8")).toBe("the old contents");
    expect(readFileSync(`${output}.partial`, "utf8")).toBe("the new contents");
    expect(sink.abandon()).toBe(`${output}.partial`);
    expect(existsSync(`${output}.ivsh-replaced`)).toBe(false);
  });

  test("--force, the verdict undone but FILE cannot move back: the replaced file is kept aside, and named", () => {
    const output = outPath(suite.paths, "stuck.out");
    writeFileSync(output, "the old contents");
    const sink = sinkWriting(output, "the new contents", true);
    sink.keep();
    // Something now stands where FILE would go back to (a directory that is not empty).
    mkdirSync(`${output}.partial/inside`, { recursive: true });
    expect(() => sink.unkeep()).toThrow(
      `moving it back to ${output}.partial failed (EISDIR): ${output} is the received copy, verified but not confirmed to its sender; the file it replaced is ${output}.ivsh-replaced`,
    );
    // The command then abandons the sink: before, that removed the replaced file as if the verdict stood.
    sink.abandon();
    expect(readFileSync(`${output}.ivsh-replaced`, "utf8")).toBe("the old contents");
    expect(readFileSync(output, "utf8")).toBe("the new contents");
  });

  test("--force, verdict final: the replaced file is let go; a failure after the keep leaves FILE as it is", () => {
    const output = outPath(suite.paths, "settled.out");
    writeFileSync(output, "the old contents");
    const sink = sinkWriting(output, "the new contents", true);
    sink.keep();
    // The failure came after the verdict (e.g. closing the connection): FILE is the verified copy.
    expect(sink.abandon()).toBeUndefined();
    expect(readFileSync(output, "utf8")).toBe("the new contents");
    expect(existsSync(`${output}.partial`)).toBe(false);
    expect(existsSync(`${output}.ivsh-replaced`)).toBe(false);
  });

  test("a FILE.partial already there is not overwritten: refused, naming it; --force replaces it", async () => {
    const output = outPath(suite.paths, "leftover.out");
    writeFileSync(`${output}.partial`, "an earlier run's bytes");
    const refused = guest(suite.paths, ["recv", "--channel", "leftover", "--out", output]);
    expect(await refused.exit()).toBe(1);
    expect(await refused.stderr).toContain(
      `${output}.partial exists: an earlier receive that did not finish left it (remove it, or pass --force`,
    );
    expect(readFileSync(`${output}.partial`, "utf8")).toBe("an earlier run's bytes");
    const input = join(suite.dir, "leftover.in");
    const data = await randomFile(input, 5_000);
    const receiver = guest(suite.paths, ["recv", "--channel", "leftover", "--out", output, "--force"]);
    const sender = guest(suite.paths, ["send", input, "--channel", "leftover"]);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
  });

  test("two receivers on one --out: the second is refused, --force or not, and the first is undisturbed", async () => {
    const output = outPath(suite.paths, "twice.out");
    const first = guest(suite.paths, ["recv", "--channel", "twice", "--out", output]);
    await waitUntilOpen(first.proc.pid, `${output}.partial`);
    for (const force of [[], ["--force"]]) {
      const second = guest(suite.paths, ["recv", "--channel", "twice-2", "--out", output, ...force]);
      expect(await second.exit()).toBe(1);
      expect(await second.stderr).toContain(`another receiver is writing ${output}.partial now`);
    }
    const input = join(suite.dir, "twice.in");
    const data = await randomFile(input, 100_000);
    const sender = guest(suite.paths, ["send", input, "--channel", "twice"]);
    expect([await sender.exit(), await first.exit()]).toEqual([0, 0]);
    expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
  });

  test("--out naming a directory is refused as such", async () => {
    const receiver = guest(suite.paths, ["recv", "--channel", "dir", "--out", suite.dir]);
    expect(await receiver.exit()).toBe(1);
    expect(await receiver.stderr).toContain(`${suite.dir} is a directory (--out names the file to write`);
  });

  test("--out= (empty) is a usage error, not a file named .partial", async () => {
    const receiver = guest(suite.paths, ["recv", "--channel", "empty-out", "--out="]);
    expect(await receiver.exit()).toBe(2);
    expect(await receiver.stderr).toContain("Failed to use --out '' since it is empty");
    expect(existsSync(".partial")).toBe(false);
  });

  testUnless(
    cannotMount,
    "a full file system: the error says so and what to do, and the truncated copy is removed",
    async () => {
      const small = join(suite.dir, "small");
      mkdirSync(small);
      Bun.spawnSync(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", small]);
      try {
        const input = join(suite.dir, "too-big.in");
        await randomFile(input, 3 * MIB);
        const receiver = guest(suite.paths, ["recv", "--channel", "full", "--out", join(small, "out")]);
        const sender = guest(suite.paths, ["send", input, "--channel", "full"]);
        expect([await receiver.exit(), await sender.exit()]).toEqual([1, 1]);
        expect(await receiver.stderr).toContain(
          `Failed to write ${join(small, "out")} since its file system is full (ENOSPC) after`,
        );
        expect(readdirSync(small)).toEqual([]);
        // A read-only file system is named as such when the copy is opened.
        Bun.spawnSync(["mount", "-o", "remount,ro", small]);
        const readOnly = guest(suite.paths, ["recv", "--channel", "ro", "--out", join(small, "out")]);
        expect(await readOnly.exit()).toBe(1);
        expect(await readOnly.stderr).toContain("is on a read-only file system (EROFS)");
      } finally {
        Bun.spawnSync(["umount", small]);
      }
    },
  );
});

test("a ring larger than the region: the error says which flags make it fit", async () => {
  const input = join(suite.dir, "big-ring.in");
  await randomFile(input, 80 * MIB);
  const sender = guest(suite.paths, [
    "send",
    input,
    "--channel",
    "big-ring",
    "--chunk-size",
    "16MiB",
    "--depth",
    "8",
  ]);
  expect(await sender.exit()).toBe(1);
  // The ring is cut to the file's size first (6 chunks here), and is still too big.
  expect(await sender.stderr).toMatch(
    /Failed to open channel 'big-ring' with a ring of \d+ chunks of 16\.0 MiB \([\d.]+ MiB\) since it needs/,
  );
  expect(await sender.stderr).toContain(
    "pass a smaller --chunk-size or --depth (in the library: chunkBytes, depth), or start the arbiter with a larger --size",
  );
});

describe("--timeout: how long an end waits for the other to show up", () => {
  test("a receiver with no sender gives up, exit 1, naming the limit; no file left", async () => {
    const output = outPath(suite.paths, "lonely.out");
    const receiver = guest(suite.paths, [
      "recv",
      "--channel",
      "lonely",
      "--out",
      output,
      "--timeout",
      "300ms",
    ]);
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
      const input = join(suite.dir, `${channel}.in`);
      await randomFile(input, bytes);
      const sender = guest(suite.paths, ["send", input, "--channel", channel, "--timeout", "300ms"]);
      expect(await sender.exit()).toBe(1);
      expect(await sender.stderr).toContain(
        `Failed to send on channel '${channel}' since no receiver showed up within 300 ms (--timeout)`,
      );
      // The channel is free again: a sender and receiver after it meet normally.
      const output = outPath(suite.paths, `${channel}.out`);
      const receiver = guest(suite.paths, ["recv", "--channel", channel, "--out", output]);
      const again = guest(suite.paths, ["send", input, "--channel", channel, "--timeout", "60s"]);
      expect([await again.exit(), await receiver.exit()]).toEqual([0, 0]);
    });

  test("once both ends are there, --timeout does not limit the transfer (a pipe fed for longer)", async () => {
    const output = outPath(suite.paths, "slow-pipe.out");
    const receiver = guest(suite.paths, [
      "recv",
      "--channel",
      "slow-pipe",
      "--out",
      output,
      "--timeout",
      "10s",
    ]);
    await waitUntilOpen(receiver.proc.pid, `${output}.partial`); // it is up before the sender starts
    const sender = guest(suite.paths, ["send", "-", "--channel", "slow-pipe", "--timeout", "1s"]);
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

  test("a --timeout that is not a duration, or one no timer can wait (0, 600h), is a usage error", async () => {
    const sender = guest(suite.paths, ["send", "/etc/hostname", "--timeout", "soon"]);
    expect(await sender.exit()).toBe(2);
    expect(await sender.stderr).toContain("--timeout 'soon' since it is not a duration");
    // A bare number was seconds: `--timeout 500` waited 8 min 20 s, not the 500 ms its writer may have meant.
    const bare = guest(suite.paths, ["recv", "--out", "-", "--timeout", "500"]);
    expect(await bare.exit()).toBe(2);
    expect(await bare.stderr).toContain(
      "--timeout '500' since it has no unit: write one, e.g. 500ms or 500s",
    );
    for (const value of ["0", "600h"]) {
      const receiver = guest(suite.paths, ["recv", "--out", "-", "--timeout", value]);
      expect(await receiver.exit()).toBe(2);
      expect(await receiver.stderr).toContain(
        `Failed to use --timeout ${value} since it must be between 1ms and 596 h 31 min`,
      );
    }
  });
});

test("Ctrl-C while connecting to an arbiter that keeps closing during hello (restarting): exit 130, not 30 s of retries", async () => {
  let accepted = 0;
  const socket = join(suite.dir, "restarting.sock");
  const listener = Bun.listen({
    unix: socket,
    socket: {
      open() {
        accepted++;
      },
      data(connection) {
        connection.end(); // what a restarting arbiter's socket does to a hello
      },
    },
  });
  try {
    const output = outPath(suite.paths, "restarting.out");
    const receiver = guest(suite.paths, [
      "recv",
      "--channel",
      "restarting",
      "--out",
      output,
      "--socket",
      socket,
    ]);
    while (accepted < 2) await Bun.sleep(10); // it is retrying now
    receiver.proc.kill("SIGINT");
    expect(await receiver.exit()).toBe(130);
    expect(await receiver.stderr).toContain("connect to the arbiter since it was interrupted by SIGINT");
    expect(existsSync(`${output}.partial`)).toBe(false);
  } finally {
    listener.stop(true);
  }
});

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

function overwrite(file: string, position: number, text: string): void {
  const fd = openSync(file, "r+");
  try {
    writeSync(fd, text, position);
  } finally {
    closeSync(fd);
  }
}

/** Waits (20 s at most: a liveness bound) until process `pid` has `file` open. */
/** Waits until `pid` has `file` open and, if asked, has read at least `readBytes` of it (its fd's position). */
async function waitUntilOpen(pid: number, file: string, readBytes = 0): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      const fds = readdirSync(`/proc/${pid}/fd`);
      const fd = fds.find((each) => safeReadlink(`/proc/${pid}/fd/${each}`) === file);
      if (fd !== undefined && positionOf(pid, fd) >= readBytes) return;
    } catch {
      // not started yet, or gone: the exit check after this reports which
    }
    await Bun.sleep(10);
  }
  throw new Error(`process ${pid} did not open ${file} (and read ${readBytes} bytes of it) within 20 s`);
}

function positionOf(pid: number, fd: string): number {
  const match = /^pos:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"));
  return Number(match?.[1] ?? 0);
}

function safeReadlink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}
