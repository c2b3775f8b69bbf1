/**
 * The receiver's FILE.partial (src/transfer/out-names.ts, openPartial), in-process: one that another
 * receiver holds (its flock) is never taken, --force or not; one that nobody holds is replaced only with
 * --force, or if it is empty (what a receiver killed outright leaves). A partial that will replace a file
 * is this user's alone while written (the file may be private), and takes that file's mode once whole.
 */
import { afterAll, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { closeFd, fileStatus, O_RDONLY, O_WRONLY, openFile, tryLockExclusive } from "../src/ffi/index.ts";
import { openPartial, takeModeOf } from "../src/transfer/out-names.ts";
import { notRoot, runAsNobody } from "./helpers/as-nobody.ts";
import { expectFailure } from "./helpers/errors.ts";
import { REPO } from "./helpers/paths.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

const directory = mkdtempSync(join(tmpdir(), "out-partial-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

test("a partial another receiver is writing is not replaced, even with --force: it says so", () => {
  const target = join(directory, "busy");
  const partial = `${target}.partial`;
  writeFileSync(partial, "the other receiver's bytes");
  const theirs = openFile(partial, O_WRONLY);
  try {
    expect(tryLockExclusive(theirs, partial)).toBe(true);
    for (const force of [true, false])
      expectFailure(
        () => openPartial(partial, target, force, "--out"),
        "AlreadyExists",
        /another receiver is writing .*busy\.partial now/,
      );
    expect(readFileSync(partial, "utf8")).toBe("the other receiver's bytes");
  } finally {
    closeFd(theirs);
  }
});

test("a partial nobody holds is left by an earlier receive: refused without --force, replaced with it", () => {
  const target = join(directory, "stale");
  const partial = `${target}.partial`;
  writeFileSync(partial, "left over");
  expectFailure(() => openPartial(partial, target, false, "--out"), "AlreadyExists", /pass --force/);
  const fd = openPartial(partial, target, true, "--out");
  closeFd(fd);
  expect(existsSync(partial) && readFileSync(partial, "utf8")).toBe("");
});

// Found by a review: without --force a directory there was told "pass --force to replace it", and --force
// then said it is a directory.
test("a directory at FILE.partial is named as one, with or without --force, and left alone", () => {
  const target = join(directory, "dir-partial");
  const partial = `${target}.partial`;
  mkdirSync(partial);
  for (const force of [false, true])
    expectFailure(
      () => openPartial(partial, target, force, "--out"),
      "InvalidArgument",
      // Found by a trial: "(--out names the file to write, in a directory that exists)", which it did.
      /^(?![\s\S]*pass --force)[\s\S]*is a directory, where the copy is written until verified \(remove it, or choose another --out\)$/,
    );
  expect(statSync(partial).isDirectory()).toBe(true);
});

test("a partial that replaces a file is private while written, then takes that file's mode", () => {
  const target = join(directory, "replaced");
  writeFileSync(target, "old");
  chmodSync(target, 0o640);
  const partial = `${target}.partial`;
  const fd = openPartial(partial, target, false, "--out");
  try {
    expect((statSync(partial).mode & 0o777).toString(8)).toBe("600");
    takeModeOf(statSync(target), fd);
    expect((statSync(partial).mode & 0o777).toString(8)).toBe("640");
  } finally {
    closeFd(fd);
  }
});

// An empty partial is taken over only if this user can lock it (flock: read access is enough). Its
// receiver (here: this root process) may be live, and another user, who may not open it for writing,
// took "cannot open it" for "nobody holds it" and unlinked it in a directory both may write.
testUnless(
  notRoot ?? toolMissing("setpriv"),
  "an empty partial another user's live receiver holds is not taken over, though this user may not write it",
  () => {
    const shared = join(directory, "shared");
    mkdirSync(shared);
    chmodSync(directory, 0o755);
    chmodSync(shared, 0o777);
    const target = join(shared, "theirs");
    const partial = `${target}.partial`;
    writeFileSync(partial, "");
    chmodSync(partial, 0o644);
    const theirs = openFile(partial, O_WRONLY);
    try {
      expect(tryLockExclusive(theirs, partial)).toBe(true);
      const script = join(directory, "take-over.ts");
      writeFileSync(
        script,
        `import { openPartial } from ${JSON.stringify(join(REPO, "src/transfer/out-names.ts"))};\n` +
          "try { openPartial(process.argv[2], process.argv[3], false, '--out'); console.log('taken over'); }\n" +
          "catch (error) { console.log(error.message); }\n",
      );
      // Before: "taken over", the live receiver's file unlinked under it.
      expect(runAsNobody(script, [partial, target])).toContain(`another receiver is writing ${partial} now`);
      const named = lstatSync(partial);
      expect(`${named.dev}:${named.ino}`).toBe(fileStatus(theirs, partial).identity);
    } finally {
      closeFd(theirs);
    }
  },
);

// A partial this user cannot open (to flock it) was taken over with --force as if nobody held it. Two
// receivers' partials are that: another user's that replaces a file (0600 while written), and this user's
// own once it took the mode of the file it replaces (0000, 0200: set just before its rename). The second
// receiver unlinked it and made its own, which the first then renamed to FILE and reported as its copy.
for (const [story, owner, mode] of [
  ["another user's receiver replacing a file (mode 600, root's)", 0, 0o600],
  ["this user's own receiver, its copy given the replaced file's mode 000 before its rename", 65534, 0o000],
] as const)
  testUnless(
    notRoot ?? toolMissing("setpriv"),
    `--force does not take over a partial this user cannot open while a receiver holds it: ${story}`,
    () => {
      const shared = join(directory, `unopenable-${owner}`);
      mkdirSync(shared);
      chmodSync(directory, 0o755);
      chmodSync(shared, 0o777);
      const target = join(shared, "file");
      const partial = `${target}.partial`;
      writeFileSync(partial, "the live receiver's verified bytes");
      chownSync(partial, owner, owner);
      chmodSync(partial, mode);
      const theirs = openFile(partial, O_RDONLY);
      try {
        expect(tryLockExclusive(theirs, partial)).toBe(true);
        const script = join(directory, `force-${owner}.ts`);
        writeFileSync(
          script,
          `import { openPartial } from ${JSON.stringify(join(REPO, "src/transfer/out-names.ts"))};\n` +
            "try { openPartial(process.argv[2], process.argv[3], true, '--out'); console.log('taken over'); }\n" +
            "catch (error) { console.log(error.message); }\n",
        );
        // Before: "taken over", the live receiver's file unlinked under it.
        expect(runAsNobody(script, [partial, target])).toContain(
          `another receiver is writing ${partial} now`,
        );
        const named = lstatSync(partial);
        expect(`${named.dev}:${named.ino}`).toBe(fileStatus(theirs, partial).identity);
      } finally {
        closeFd(theirs);
      }
      // Its receiver gone (killed -9), no lock is listed: --force takes it over, as before.
      expect(runAsNobody(join(directory, `force-${owner}.ts`), [partial, target])).toBe("taken over\n");
    },
  );
