/**
 * `putBack` (src/transfer/undo-keep.ts): the verified copy's rename to FILE failed, so the file it was to
 * replace (--force), set aside just before, goes back. Set aside by a hard link, it is still at FILE and
 * only its second name goes; by a rename (a file system without hard links), it is renamed back; if that
 * fails, where it is now is returned, for the error to name. And `undoKeep` (the verdict could not be
 * told) when another receiver (or anyone) made FILE.partial since, or FILE's directory became
 * unsearchable. Here on their own: through a transfer, each needs a
 * race.
 */
import { afterAll, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  closeSync,
  existsSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openPartial } from "../src/transfer/out-names.ts";
import { putBack, undoKeep } from "../src/transfer/undo-keep.ts";
import { NOBODY, notRoot, runAsNobody } from "./helpers/as-nobody.ts";
import { REPO } from "./helpers/paths.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-undo-keep-"));
// Another file system than tmpdir()'s, for a rename back that fails (EXDEV).
const elsewhere = mkdtempSync(join("/dev/shm", "ivsh-undo-keep-"));
afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
  rmSync(elsewhere, { recursive: true, force: true });
});

test("set aside by a hard link, the file is still FILE: only its second name goes", () => {
  const final = join(dir, "linked");
  writeFileSync(final, "the old file");
  linkSync(final, `${final}.ivsh-replaced`);
  expect(putBack(`${final}.ivsh-replaced`, final)).toBeUndefined();
  expect(readFileSync(final, "utf8")).toBe("the old file");
  // Renamed over FILE instead, a second name of the same file, the rename does nothing: the name stayed.
  expect(existsSync(`${final}.ivsh-replaced`)).toBe(false);
});

test("set aside by a rename (no hard links there), the file is renamed back to FILE", () => {
  const final = join(dir, "renamed");
  writeFileSync(final, "the old file");
  renameSync(final, `${final}.ivsh-replaced`);
  expect(putBack(`${final}.ivsh-replaced`, final)).toBeUndefined();
  // Removed as a second name instead, the user's file was lost.
  expect(readFileSync(final, "utf8")).toBe("the old file");
  expect(existsSync(`${final}.ivsh-replaced`)).toBe(false);
});

test("a file that cannot go back to FILE stays where it is, and that name is returned for the error to say", () => {
  const final = join(dir, "stranded");
  const aside = join(elsewhere, "stranded.ivsh-replaced");
  writeFileSync(aside, "the old file");
  expect(putBack(aside, final)).toBe(aside);
  expect(readFileSync(aside, "utf8")).toBe("the old file");
  expect(existsSync(final)).toBe(false);
});

test("nothing set aside (no --force, or no file at FILE): nothing to put back", () => {
  expect(putBack(undefined, join(dir, "none"))).toBeUndefined();
});

test("an undo that finds a new FILE.partial (another receiver's) moves nothing and says who has the name", () => {
  const final = join(dir, "undone");
  writeFileSync(final, "the kept copy");
  const fd = openPartial(`${final}.partial`, final, false, "--out"); // a receiver's: made and locked
  writeFileSync(fd, "another receiver's bytes");
  writeFileSync(`${final}.ivsh-replaced`, "the old file");
  const { dev, ino } = lstatSync(final);
  const where = { target: final, copy: `${final}.partial`, final, old: `${final}.ivsh-replaced` };
  try {
    expect(() => undoKeep(where, `${dev}:${ino}`)).toThrow(
      `Failed to undo the keeping of ${final} since moving it back to ${final}.partial failed (another receiver is writing ${final}.partial (pid ${process.pid}, `,
    );
  } finally {
    closeSync(fd);
  }
  expect(readFileSync(final, "utf8")).toBe("the kept copy");
  expect(readFileSync(`${final}.partial`, "utf8")).toBe("another receiver's bytes");
  expect(readFileSync(`${final}.ivsh-replaced`, "utf8")).toBe("the old file");
});

// Left open by an earlier session: any regular file there was "another receiver is writing" it, also one
// no receiver holds (a user's, or anything a process that may write the directory put there).
test("an undo that finds a FILE.partial no receiver holds says what is known of it, not 'another receiver'", () => {
  const final = join(dir, "undone-unheld");
  writeFileSync(final, "the kept copy");
  writeFileSync(`${final}.partial`, "someone's bytes");
  const { dev, ino } = lstatSync(final);
  const where = { target: final, copy: `${final}.partial`, final, old: undefined };
  expect(() => undoKeep(where, `${dev}:${ino}`)).toThrow(
    `Failed to undo the keeping of ${final} since moving it back to ${final}.partial failed (a file was made at ${final}.partial since the copy left it, with no flock on it in /proc/locks, where a receiver in another PID namespace is not listed: it is not this one's to replace): ${final} is the received copy, verified but not confirmed to its sender`,
  );
  expect(readFileSync(final, "utf8")).toBe("the kept copy");
  expect(readFileSync(`${final}.partial`, "utf8")).toBe("someone's bytes");
});

// Left open by an earlier session: FILE's directory made unsearchable while the receiver was frozen had the
// undo's first look (lstat) throw a raw "EACCES: permission denied, lstat ..." out of Sink.unkeep. Only a
// user other than root is stopped by modes: run as nobody.
testUnless(
  notRoot ?? toolMissing("setpriv"),
  "an undo in a directory made unsearchable meanwhile fails with the undo's error naming the directory",
  () => {
    const out = join(dir, "unsearchable");
    mkdirSync(out);
    chmodSync(dir, 0o755);
    chownSync(out, NOBODY, NOBODY);
    const script = join(dir, "undo.ts");
    writeFileSync(
      script,
      [
        'import { chmodSync, lstatSync, writeFileSync } from "node:fs";',
        `import { undoKeep } from ${JSON.stringify(join(REPO, "src/transfer/undo-keep.ts"))};`,
        "const [out, final] = process.argv.slice(2);",
        'writeFileSync(final, "the kept copy");',
        "const { dev, ino } = lstatSync(final);",
        "chmodSync(out, 0o600);",
        "try {",
        '  undoKeep({ target: final, copy: final + ".partial", final, old: undefined }, dev + ":" + ino);',
        '  console.log("undone");',
        "} catch (error) {",
        '  console.log("threw " + (error.code ?? "") + ": " + error.message);',
        "}",
        "chmodSync(out, 0o755);",
      ].join("\n"),
    );
    chmodSync(script, 0o644);
    const final = join(out, "file");
    // Before: "threw EACCES: EACCES: permission denied, lstat '.../file'".
    expect(runAsNobody(script, [out, final])).toBe(
      `threw SystemCall: Failed to undo the keeping of ${final} since moving it back to ${final}.partial failed (this user may no longer look in or change ${out}/ (EACCES)): ${final} is the received copy, verified but not confirmed to its sender (give the directory its permissions back to look at or move them)\n`,
    );
  },
);

// Found by a second review: /proc/locks lists no lock held by a process outside its PID namespace (a
// receiver in another container writing to the same directory), yet the partial it holds was said to be
// one "which no receiver holds". Said now as what is known: no lock in /proc/locks, which may not list it.
const noPidNamespace =
  toolMissing("unshare") ??
  (Bun.spawnSync(["unshare", "--pid", "--fork", "--mount-proc", "true"], { stderr: "ignore" }).exitCode === 0
    ? undefined
    : "cannot make a PID namespace with its own /proc here (needs root and unshare)");

testUnless(
  noPidNamespace,
  "an undo in another PID namespace than the partial's receiver does not say no receiver holds it",
  () => {
    const final = join(dir, "undone-other-namespace");
    writeFileSync(final, "the kept copy");
    const fd = openPartial(`${final}.partial`, final, false, "--out"); // held by this process
    const script = join(dir, "undo-elsewhere.ts");
    writeFileSync(
      script,
      [
        'import { lstatSync } from "node:fs";',
        `import { undoKeep } from ${JSON.stringify(join(REPO, "src/transfer/undo-keep.ts"))};`,
        "const final = process.argv[2];",
        "const { dev, ino } = lstatSync(final);",
        "try {",
        '  undoKeep({ target: final, copy: final + ".partial", final, old: undefined }, dev + ":" + ino);',
        '  console.log("undone");',
        "} catch (error) {",
        "  console.log(error.message);",
        "}",
      ].join("\n"),
    );
    try {
      // Its own PID namespace and /proc, where this process's lock is not listed.
      const child = Bun.spawnSync([
        "unshare",
        "--pid",
        "--fork",
        "--mount-proc",
        process.execPath,
        script,
        final,
      ]);
      expect(child.stderr.toString()).toBe("");
      const said = child.stdout.toString();
      expect(said).toContain(
        "with no flock on it in /proc/locks, where a receiver in another PID namespace is not listed:",
      );
      expect(said).not.toContain("no receiver holds");
    } finally {
      closeSync(fd);
    }
    expect(readFileSync(`${final}.partial`, "utf8")).toBe("");
  },
);
