/**
 * `putBack` (src/transfer/undo-keep.ts): the verified copy's rename to FILE failed, so the file it was to
 * replace (--force), set aside just before, goes back. Set aside by a hard link, it is still at FILE and
 * only its second name goes; by a rename (a file system without hard links), it is renamed back; if that
 * fails, where it is now is returned, for the error to name. Here on its own: through a transfer, the
 * rename fails only in a race.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, linkSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { putBack } from "../src/transfer/undo-keep.ts";

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
