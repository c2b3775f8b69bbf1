/**
 * Where `ivsh guest recv` writes: into files (--out refused or replaced with --force, kept or undone:
 * FILE.partial until the data is verified) and into a stdout whose reader leaves early.
 */
import { describe, expect, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { addressOf } from "../src/ffi/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { Sink } from "../src/transfer/sink.ts";
import { waitUntilOpen } from "./helpers/open-files.ts";
import { CLI } from "./helpers/paths.ts";
import { eventually } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";
import { clientEnv, guest, outPath, randomFile, sameBytes } from "./helpers/transfer.ts";

const MIB = 1 << 20;
const suite = sharedArbiter("receiving", { size: "64MiB" });

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
