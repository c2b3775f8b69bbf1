/**
 * The last step of a receive into a file: the verified FILE.partial takes FILE's name (the file it replaces
 * set aside first, with --force). When that step fails, nothing received is lost: both ends exit 1, and the
 * receiver's error says what failed, names the verified copy, and where the old file is. A directory that
 * refuses new files is refused before the transfer, as a bad --out, and so is --force over an immutable
 * or append-only FILE (chattr +i / +a), which no one may replace, and a receive into an append-only
 * directory, out of which no FILE.partial may be renamed.
 */
import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { directoryFreezer, testUnless } from "./helpers/tools.ts";
import { guest, outPath, quietTransfer, sameBytes, waitForSize } from "./helpers/transfer.ts";

const suite = sharedArbiter("xkeep");

const BYTES = 200_000;

/**
 * `recv --out out ...extra` fed by `send -` from a pipe: once the receiver has written every byte into
 * FILE.partial, `meanwhile` runs, then the sender's stdin is closed (the end record). Returns both exit
 * codes, what the receiver said, and the data sent.
 */
async function receiveWhile(channel: string, out: string, extra: string[], meanwhile: () => void) {
  const data = crypto.getRandomValues(new Uint8Array(BYTES / 4)).slice();
  const whole = new Uint8Array(BYTES);
  for (let at = 0; at < BYTES; at += data.length) whole.set(data, at);
  const { receiver, sender } = quietTransfer(suite.paths, channel, "-", out, extra);
  sender.proc.stdin.write(whole);
  await sender.proc.stdin.flush();
  await waitForSize(`${out}.partial`, BYTES);
  meanwhile();
  await sender.proc.stdin.end();
  const codes = [await sender.exit(), await receiver.exit()];
  return { codes, said: await receiver.stderr, senderSaid: await sender.stderr, data: whole };
}

/** What every failed keep must say: the verified copy is there, whole, and named; nothing raw. */
function expectVerifiedCopyNamed(said: string, out: string, data: Uint8Array) {
  expect(said).toContain(`Failed to keep ${out} since`);
  expect(said).toContain(`The received copy, whole and verified, is ${out}.partial`);
  expect(said).not.toContain("unverified");
  expect(said).not.toMatch(/(rename|link|open) \S+: E[A-Z]+ \(/);
  expect(sameBytes(readFileSync(`${out}.partial`), data)).toBe(true);
}

test("recv --out FILE --force, FILE made a directory during the transfer: left alone, the verified copy named", async () => {
  const out = outPath(suite.paths, "became-dir");
  writeFileSync(out, "the old copy\n");
  const { codes, said, senderSaid, data } = await receiveWhile("became-dir", out, ["--force"], () => {
    rmSync(out);
    mkdirSync(out);
    writeFileSync(join(out, "inside"), "the user's\n");
  });
  expect(codes).toEqual([1, 1]);
  // Before, the directory was moved to FILE.ivsh-replaced, the copy took its name, and a raw "rm returned
  // EISDIR" failed the receive after the sender had been told it was delivered.
  expect(said).toContain("it became something other than a regular file during the transfer");
  expectVerifiedCopyNamed(said, out, data);
  expect(readFileSync(join(out, "inside"), "utf8")).toBe("the user's\n");
  expect(existsSync(`${out}.ivsh-replaced`)).toBe(false);
  expect(senderSaid).toContain("the receiver got the stream intact but could not keep it");
});

test("recv --out FILE (no --force), a file created at FILE during the transfer: not overwritten, the copy named", async () => {
  const out = outPath(suite.paths, "appeared");
  const { codes, said, data } = await receiveWhile("appeared", out, [], () =>
    writeFileSync(out, "someone else's\n"),
  );
  expect(codes).toEqual([1, 1]);
  expect(said).toContain("a file was created there during the transfer (pass --force to replace one)");
  expectVerifiedCopyNamed(said, out, data);
  expect(readFileSync(out, "utf8")).toBe("someone else's\n");
});

const frozen = directoryFreezer();

testUnless(
  frozen ? undefined : "root here has no chattr +i on /tmp's file system to make a directory refuse changes",
  "recv --out FILE --force, its directory made read-only during the transfer: the old FILE kept, the verified copy named",
  async () => {
    const dir = outPath(suite.paths, "frozen");
    mkdirSync(dir);
    const out = join(dir, "file");
    writeFileSync(out, "the old copy\n");
    try {
      const { codes, said, data } = await receiveWhile("frozen", out, ["--force"], () => frozen!.freeze(dir));
      expect(codes).toEqual([1, 1]);
      // Before: "[ivsh] ERROR link ...: EPERM (Operation not permitted)" and "... left in FILE.partial, unverified".
      expect(said).toMatch(/setting aside \S+, the file it replaces, failed: this user may not change /);
      expectVerifiedCopyNamed(said, out, data);
      expect(readFileSync(out, "utf8")).toBe("the old copy\n");
    } finally {
      frozen!.thaw(dir);
    }
  },
);

testUnless(
  frozen ? undefined : "root here has no chattr +i on /tmp's file system to make a directory refuse changes",
  "recv --out into a directory that refuses new files is refused as a bad --out, before anything is received",
  async () => {
    const dir = outPath(suite.paths, "frozen-before");
    mkdirSync(dir);
    frozen!.freeze(dir);
    try {
      const receiver = guest(suite.paths, [
        "recv",
        "--channel",
        "frozen-before",
        "--out",
        join(dir, "file"),
        "--json",
      ]);
      expect(await receiver.exit()).toBe(1);
      await receiver.events.finished;
      const { error } = JSON.parse(receiver.events.lines.at(-1) ?? "");
      // Before, for root (chattr +i): "open .../file.partial: EPERM (Operation not permitted)", code SystemCall.
      expect(error.code).toBe("PermissionDenied");
      expect(error.message).toStartWith(`Failed to write ${join(dir, "file")} since `);
      // chattr +i for root (EPERM), a mode for anyone else (EACCES): named either way. Root's is named as the
      // flag it is (found by a trial: "EPERM: immutable or append-only, or a security policy", then the
      // --out hint "in a directory that exists", which it was).
      if (process.getuid?.() === 0)
        expect(error.message).toEndWith(
          `since its directory ${dir} is immutable (chattr +i; lsattr shows it): no one may write it, root included (clear the flag with chattr -i, or choose another --out)`,
        );
      else expect(error.message).toMatch(/\(EACCES\b/);
    } finally {
      frozen!.thaw(dir);
    }
  },
);

testUnless(
  frozen ? undefined : "root here has no chattr +i on /tmp's file system to make a directory refuse changes",
  "a receive that fails once its directory refuses changes says its own error, and names the FILE.partial it could not remove",
  async () => {
    const dir = outPath(suite.paths, "frozen-after");
    mkdirSync(dir);
    const out = join(dir, "file");
    const receiver = guest(suite.paths, [
      "recv",
      "--channel",
      "frozen-after",
      "--out",
      out,
      "--timeout",
      "2s",
    ]);
    try {
      await waitForSize(`${out}.partial`, 0);
      frozen!.freeze(dir);
      expect(await receiver.exit()).toBe(1);
    } finally {
      frozen!.thaw(dir);
    }
    const said = await receiver.stderr;
    // Before: "Failed to rm FILE.partial since bad address in system call argument (EFAULT)", and the
    // timeout that failed the receive was not said at all.
    expect(said).toContain("no sender showed up within 2 s (--timeout)");
    expect(said).not.toContain("Failed to rm");
    expect(said).toContain(`left in ${out}.partial`);
  },
  30_000, // a 2 s --timeout that must pass: near bun's 5 s for a file run alone on a loaded machine
);

testUnless(
  frozen && process.getuid?.() === 0
    ? undefined
    : "only root with chattr +i on /tmp's file system makes a file immutable",
  "recv --out FILE --force, FILE immutable (chattr +i): refused before anything is received, naming the flag",
  async () => {
    const out = outPath(suite.paths, "immutable");
    writeFileSync(out, "the old copy\n");
    Bun.spawnSync(["chattr", "+i", out]);
    try {
      // Before: the whole stream was received, then "setting aside FILE ... failed: this user may not change DIR/ (EPERM)".
      const receiver = guest(suite.paths, [
        "recv",
        "--channel",
        "immutable",
        "--out",
        out,
        "--force",
        "--timeout",
        "2s",
      ]);
      expect(await receiver.exit()).toBe(1);
      expect(await receiver.stderr).toContain(
        `Failed to replace ${out} since ${out} is immutable (chattr +i`,
      );
      expect(existsSync(`${out}.partial`)).toBe(false);
    } finally {
      Bun.spawnSync(["chattr", "-i", out]);
    }
    expect(readFileSync(out, "utf8")).toBe("the old copy\n");
  },
);

testUnless(
  frozen && process.getuid?.() === 0
    ? undefined
    : "only root with chattr +i on /tmp's file system makes a directory append-only",
  "recv --out DIR/FILE, DIR append-only (chattr +a): refused before anything is received, naming the flag",
  async () => {
    const dir = outPath(suite.paths, "append-only");
    mkdirSync(dir);
    Bun.spawnSync(["chattr", "+a", dir]);
    const out = join(dir, "file");
    try {
      // Before: it waited for its sender; with one, the whole stream arrived, then the rename of
      // FILE.partial out of the directory failed: "this user may not change DIR/ (EPERM)".
      const receiver = guest(suite.paths, [
        "recv",
        "--channel",
        "append-only",
        "--out",
        out,
        "--timeout",
        "2s",
      ]);
      expect(await receiver.exit()).toBe(1);
      expect(await receiver.stderr).toContain(
        `Failed to write ${out} since ${dir} is append-only (chattr +a; lsattr -d shows it)`,
      );
      expect(existsSync(`${out}.partial`)).toBe(false);
    } finally {
      Bun.spawnSync(["chattr", "-a", dir]);
    }
  },
);
