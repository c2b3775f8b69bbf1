/**
 * How an arbiter looks whether another holds a state journal (src/host/journal-claim.ts), which a start
 * (refuseHeldJournal) and a keeper (a journal removed under it) both ask: a journal this process holds
 * itself is no other's; another process's is named by its pid and command; the look leaves no lock of its
 * own (one left would make the file's next claimJournal fail, the journal then unguarded); and a FIFO put at
 * the path is looked at without waiting for a writer (a keeper waiting stopped the arbiter's event loop).
 */
import { afterAll, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { tryLockExclusive } from "../src/ffi/index.ts";
import { claimJournal, otherJournalHolder } from "../src/host/journal-claim.ts";
import { EXIT_BOUND_MS, spawnFixture } from "./helpers/processes.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-journal-claim-look-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a journal this process holds itself (an earlier journal of its own, an embedded arbiter's) is no other arbiter's", () => {
  const path = join(dir, "own.state");
  writeFileSync(path, "");
  const fd = openSync(path, "a");
  try {
    claimJournal(fd, path);
    expect(otherJournalHolder(path)).toBeUndefined();
  } finally {
    closeSync(fd);
  }
});

test("a journal another process holds is named by that process's pid and command", async () => {
  const path = join(dir, "other.state");
  writeFileSync(path, "");
  const holder = spawnFixture("journal-holder", { path });
  try {
    await holder.events.next("held");
    const command = readFileSync(`/proc/${holder.proc.pid}/comm`, "utf8").trim();
    expect(otherJournalHolder(path)).toBe(` (pid ${holder.proc.pid}, ${command})`);
  } finally {
    holder.proc.kill("SIGKILL");
    await holder.proc.exited;
  }
});

test("another arbiter's look under way (its shared flock) is no holder: two starting at once on one --state do not refuse each other", async () => {
  // Each start looks (refuseHeldJournal) before it claims: a look taking the lock exclusively found the other's
  // look in progress and refused the start as "another arbiter (pid N) is running".
  const path = join(dir, "looked-at.state");
  writeFileSync(path, "");
  const looker = spawnFixture("journal-holder", { path, shared: true });
  try {
    await looker.events.next("held");
    expect(otherJournalHolder(path)).toBeUndefined();
  } finally {
    looker.proc.kill("SIGKILL");
    await looker.proc.exited;
  }
});

test("a look at a journal nobody holds leaves no lock behind: the file can be claimed at once", () => {
  const path = join(dir, "free.state");
  writeFileSync(path, "");
  expect(otherJournalHolder(path)).toBeUndefined();
  const fd = openSync(path, "a");
  try {
    expect(tryLockExclusive(fd, path)).toBe(true);
  } finally {
    closeSync(fd);
  }
});

test("a FIFO at the journal's path is looked at without waiting for a writer", async () => {
  const path = join(dir, "pipe.state");
  expect(Bun.spawnSync(["mkfifo", path]).exitCode).toBe(0);
  const look = spawnFixture("journal-look", { path });
  // Waiting for a writer, it never exits: the bound is only for that (exit() kills it and says so).
  expect(await look.exit(EXIT_BOUND_MS)).toBe(0);
  await look.events.finished;
  expect((await look.events.next("looked")).holder).toBeNull();
}, 60_000);
