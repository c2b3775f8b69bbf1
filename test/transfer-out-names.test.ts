/**
 * The names `recv --out` goes through: a symbolic link written through to the file it names (as cp, dd
 * and the shell's > do), one that names nothing refused, and a FILE.ivsh-replaced that a receiver killed
 * while it replaced FILE left behind reported by the next receive, never removed.
 */
import { expect, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { moveUnlessTaken } from "../src/transfer/name-moves.ts";
import { CLI } from "./helpers/paths.ts";
import { exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";
import { clientEnv, guest, outPath, quietTransfer, randomFile, sameBytes } from "./helpers/transfer.ts";

const suite = sharedArbiter("xnames");

/** Sends a fresh 256 KiB file on `channel` to `recv --out out ...extra`; the two exit codes. */
async function receiveInto(channel: string, out: string, extra: string[] = []) {
  const input = outPath(suite.paths, `${channel}.in`);
  const data = await randomFile(input, 256 << 10);
  const { receiver, sender } = quietTransfer(suite.paths, channel, input, out, extra);
  const codes = [await sender.exit(), await receiver.exit()];
  return { codes, data, said: await receiver.stderr };
}

test("recv --out LINK --force writes the file LINK names, and LINK stays a link to it", async () => {
  const elsewhere = outPath(suite.paths, "elsewhere");
  mkdirSync(elsewhere);
  const file = `${elsewhere}/through.file`;
  writeFileSync(file, "the old copy\n");
  const link = outPath(suite.paths, "through.link");
  symlinkSync("elsewhere/through.file", link);
  const { codes, data } = await receiveInto("through", link, ["--force"]);
  expect(codes).toEqual([0, 0]);
  // Before, the link itself was replaced by a regular file and the file it named kept the old copy.
  expect(lstatSync(link).isSymbolicLink()).toBe(true);
  expect(sameBytes(readFileSync(file), data)).toBe(true);
  expect([existsSync(`${file}.partial`), existsSync(`${link}.partial`)]).toEqual([false, false]);
});

test("recv --out LINK without --force is refused as the file it names exists: both kept", async () => {
  const file = outPath(suite.paths, "kept.file");
  writeFileSync(file, "the old copy\n");
  const link = outPath(suite.paths, "kept.link");
  symlinkSync(file, link);
  const receiver = guest(suite.paths, ["recv", "--channel", "kept", "--out", link, "--timeout", "5s"]);
  expect(await receiver.exit()).toBe(1);
  expect(await receiver.stderr).toContain("already exists");
  expect(lstatSync(link).isSymbolicLink()).toBe(true);
  expect(readFileSync(file, "utf8")).toBe("the old copy\n");
});

for (const extra of [[], ["--force"]])
  test(`recv --out DANGLING ${extra.join(" ")}: refused naming where it points; nothing created there`, async () => {
    const nowhere = outPath(suite.paths, `nowhere${extra.length}`);
    const link = outPath(suite.paths, `dangling${extra.length}.link`);
    symlinkSync(nowhere, link);
    const receiver = guest(suite.paths, [
      "recv",
      "--channel",
      "dangling",
      "--out",
      link,
      "--timeout",
      "5s",
      ...extra,
    ]);
    expect(await receiver.exit()).toBe(1);
    // Before, the stream was received and the link replaced by the copy.
    const said = await receiver.stderr;
    expect(said).toContain("symbolic link");
    expect(said).toContain(nowhere);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(existsSync(nowhere)).toBe(false);
    expect(existsSync(`${link}.partial`)).toBe(false);
  }, 30_000);

test("a FILE.ivsh-replaced left by a killed receive is reported by the next recv --out FILE, and kept", async () => {
  // What a receiver killed between replacing FILE and letting the old one go leaves.
  const output = outPath(suite.paths, "left.out");
  writeFileSync(output, "the copy the killed receiver kept\n");
  writeFileSync(`${output}.ivsh-replaced`, "the file it replaced\n");
  const { codes, data, said } = await receiveInto("left", output, ["--force"]);
  expect(codes).toEqual([0, 0]);
  expect(sameBytes(readFileSync(output), data)).toBe(true);
  // Before, nothing was said, and each such receive left one more (FILE.ivsh-replaced.1, ...) unnoticed.
  expect(said).toContain(`${output}.ivsh-replaced`);
  expect(said).toContain("never removes it");
  expect(readFileSync(`${output}.ivsh-replaced`, "utf8")).toBe("the file it replaced\n");
  expect(existsSync(`${output}.ivsh-replaced.1`)).toBe(false);
});

test("a refused recv --out FILE names a leftover FILE.ivsh-replaced too", async () => {
  const output = outPath(suite.paths, "refused.out");
  writeFileSync(output, "new\n");
  writeFileSync(`${output}.ivsh-replaced`, "old\n");
  const receiver = guest(suite.paths, ["recv", "--channel", "refused", "--out", output, "--timeout", "5s"]);
  expect(await receiver.exit()).toBe(1);
  expect(await receiver.stderr).toContain(`${output}.ivsh-replaced`);
});

testUnless(
  process.getuid?.() === 0 ? toolMissing("setpriv") : "only root can run a process as another user",
  "recv --force over another user's file in a sticky directory is refused before anything is received",
  async () => {
    chmodSync(suite.dir, 0o755);
    const sticky = join(suite.dir, "sticky");
    mkdirSync(sticky);
    chmodSync(sticky, 0o1777);
    const theirs = join(sticky, "theirs");
    writeFileSync(theirs, "root's file\n");
    const asNobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
    const receiver = Bun.spawn(
      [
        ...asNobody,
        process.execPath,
        CLI,
        "guest",
        "recv",
        "--channel",
        "sticky",
        "--out",
        theirs,
        "--force",
      ],
      { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", ...clientEnv(suite.paths) } },
    );
    const said = new Response(receiver.stderr).text();
    expect(await exitOrKill(receiver, 20_000)).toBe(1);
    // Before, it received the whole stream, then failed on a raw "rename ...: EPERM" and called the
    // verified copy it left in FILE.partial unverified.
    expect(await said).toContain(`${sticky} is sticky`);
    expect(readFileSync(theirs, "utf8")).toBe("root's file\n");
    expect(existsSync(`${theirs}.partial`)).toBe(false);
  },
);

test("the verified copy takes FILE's name only if no file has it by then, without a window: else both are kept", () => {
  const [copy, final] = [outPath(suite.paths, "taken.partial"), outPath(suite.paths, "taken")];
  writeFileSync(copy, "received");
  // Made after the receiver looked (a stat, then a rename, would have replaced it).
  writeFileSync(final, "someone's");
  expect(moveUnlessTaken(copy, final)).toBe(false);
  expect([readFileSync(copy, "utf8"), readFileSync(final, "utf8")]).toEqual(["received", "someone's"]);
  const free = outPath(suite.paths, "free");
  expect(moveUnlessTaken(copy, free)).toBe(true);
  expect([existsSync(copy), readFileSync(free, "utf8")]).toEqual([false, "received"]);
});

// An undo moves FILE back to FILE.partial only while FILE is its copy (`meant`): a file renamed to FILE
// since its look (another receiver's) is moved back where it was, not left at FILE.partial.
test("a move of a file that is not the one meant is undone: the file back at its name, nothing at the other", () => {
  const [from, to] = [outPath(suite.paths, "unmeant"), outPath(suite.paths, "unmeant.partial")];
  writeFileSync(from, "another receiver's copy");
  expect(moveUnlessTaken(from, to, () => false)).toBe("replaced");
  expect([readFileSync(from, "utf8"), existsSync(to)]).toEqual(["another receiver's copy", false]);
});

test("recv --out a name too long to take '.ivsh-replaced' (but not '.partial') receives it, the leftover check aside", async () => {
  // 245 bytes: FILE.partial (253) is a name the file system takes, FILE.ivsh-replaced (259) is not.
  const out = outPath(suite.paths, "l".repeat(245));
  const { codes, data, said } = await receiveInto("long-name", out);
  // Before: "Failed to lstat FILE.ivsh-replaced since name too long (ENAMETOOLONG)", before anything.
  expect({ codes, said }).toEqual({ codes: [0, 0], said: "" });
  expect(sameBytes(readFileSync(out), data)).toBe(true);
});

test("recv --force over a file whose FILE.ivsh-replaced name is too long: refused before anything is received", async () => {
  const out = outPath(suite.paths, "r".repeat(245));
  writeFileSync(out, "the old copy\n");
  const receiver = guest(suite.paths, ["recv", "-q", "--channel", "long-force", "--out", out, "--force"]);
  // Before: the whole stream was received, and only then was it refused keeping (its copy left in .partial).
  expect(await receiver.exit()).toBe(1);
  expect(await receiver.stderr).toContain(".ivsh-replaced, is too long for its file system (ENAMETOOLONG)");
  expect(readFileSync(out, "utf8")).toBe("the old copy\n");
  expect(existsSync(`${out}.partial`)).toBe(false);
});

test("recv --force where FILE.ivsh-replaced is taken and the next aside name is too long: refused before anything", async () => {
  // 240 bytes: FILE.ivsh-replaced (254) is a name the file system takes, FILE.ivsh-replaced.1 (256) is not.
  const out = outPath(suite.paths, "t".repeat(240));
  writeFileSync(out, "the old copy\n");
  writeFileSync(`${out}.ivsh-replaced`, "a killed receive's\n");
  const receiver = guest(suite.paths, ["recv", "-q", "--channel", "long-taken", "--out", out, "--force"]);
  // Before: the whole stream was received (a sender is waited for), and only then refused keeping.
  expect(await receiver.exit()).toBe(1);
  expect(await receiver.stderr).toContain(".ivsh-replaced.1, is too long for its file system (ENAMETOOLONG)");
  expect(readFileSync(out, "utf8")).toBe("the old copy\n");
  expect(readFileSync(`${out}.ivsh-replaced`, "utf8")).toBe("a killed receive's\n");
  expect(existsSync(`${out}.partial`)).toBe(false);
});
