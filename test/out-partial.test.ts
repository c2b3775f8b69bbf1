/**
 * The receiver's FILE.partial (src/transfer/out-names.ts, openPartial), in-process: one that another
 * receiver holds (its flock) is never taken, --force or not; one that nobody holds is replaced only with
 * --force. A partial that will replace a file is this user's alone while written (the file may be
 * private), and takes that file's mode once whole.
 */
import { afterAll, expect, test } from "bun:test";
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { closeFd, O_WRONLY, openFile, tryLockExclusive } from "../src/ffi/index.ts";
import { openPartial, takeModeOf } from "../src/transfer/out-names.ts";
import { expectFailure } from "./helpers/errors.ts";

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

test("a partial that replaces a file is private while written, then takes that file's mode", () => {
  const target = join(directory, "replaced");
  writeFileSync(target, "old");
  chmodSync(target, 0o640);
  const partial = `${target}.partial`;
  closeFd(openPartial(partial, target, false, "--out"));
  expect((statSync(partial).mode & 0o777).toString(8)).toBe("600");
  takeModeOf(target, partial);
  expect((statSync(partial).mode & 0o777).toString(8)).toBe("640");
});
