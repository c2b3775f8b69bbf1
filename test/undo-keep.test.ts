/**
 * `putBack` (src/transfer/undo-keep.ts): the verified copy's rename to FILE failed, so the file it was to
 * replace (--force), set aside just before, goes back. Set aside by a hard link, it is still at FILE and
 * only its second name goes; by a rename (a file system without hard links), it is renamed back; if that
 * fails, where it is now is returned, for the error to name. And `undoKeep` (the verdict could not be
 * told) when another receiver made FILE.partial since. Here on their own: through a transfer, each needs a
 * race.
 */
import { afterAll, expect, test } from "bun:test";
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { putBack, undoKeep } from "../src/transfer/undo-keep.ts";

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
  writeFileSync(`${final}.partial`, "another receiver's bytes");
  writeFileSync(`${final}.ivsh-replaced`, "the old file");
  const { dev, ino } = lstatSync(final);
  const where = { target: final, copy: `${final}.partial`, final, old: `${final}.ivsh-replaced` };
  expect(() => undoKeep(where, `${dev}:${ino}`)).toThrow(
    `Failed to undo the keeping of ${final} since moving it back to ${final}.partial failed (another receiver is writing ${final}.partial): ${final} is the received copy, verified but not confirmed to its sender; the file it replaced is ${final}.ivsh-replaced`,
  );
  expect(readFileSync(final, "utf8")).toBe("the kept copy");
  expect(readFileSync(`${final}.partial`, "utf8")).toBe("another receiver's bytes");
  expect(readFileSync(`${final}.ivsh-replaced`, "utf8")).toBe("the old file");
});
