/**
 * Edges of the journal keeper (src/host/journal-keeper.ts), its journal and compactor injected: a path
 * another process took (a real `flock` holding it) is not written over, even after that process let go;
 * a rewrite refused as another arbiter's every time is looked at again once, not without end.
 */
import { afterAll, afterEach, expect, spyOn, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { failure } from "../src/errors.ts";
import type { Compactor } from "../src/host/compaction.ts";
import { JournalKeeper } from "../src/host/journal-keeper.ts";
import type { StateFile } from "../src/host/state-file.ts";
import { log } from "../src/log.ts";

const dir = mkdtempSync("/dev/shm/journal-keeper-edges-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const spies: { mockRestore(): void }[] = [];
afterEach(() => {
  for (const spy of spies.splice(0)) spy.mockRestore();
});

function keeper(path: string, rewrite: () => void) {
  const rewrites: number[] = [];
  const stateFile = {
    path,
    stillAtPath: () => false,
    rewrite: () => {
      rewrites.push(1);
      rewrite();
    },
  } as unknown as StateFile;
  const compactor = { cancel() {} } as unknown as Compactor;
  const errors = spyOn(log, "error").mockImplementation(() => {});
  spies.push(
    errors,
    spyOn(log, "warn").mockImplementation(() => {}),
  );
  return { kept: new JournalKeeper(stateFile, compactor, () => []), rewrites, errors };
}

test("a journal path another process took is never written over, even once that process let it go", async () => {
  const path = join(dir, "taken.state");
  // Another arbiter's claim on its journal: a flock held by another process.
  // It lets go once its stdin closes (cat ends, and flock with it).
  const holder = Bun.spawn(["flock", "-x", path, "-c", "echo held; cat"], { stdin: "pipe", stdout: "pipe" });
  const reader = holder.stdout.getReader();
  expect(new TextDecoder().decode((await reader.read()).value)).toBe("held\n");
  const { kept, rewrites, errors } = keeper(path, () => {});
  try {
    expect(kept.keep()).toBe(false);
    expect(kept.takenOver).toBe(true);
    expect(errors).toHaveBeenCalledTimes(1);
  } finally {
    holder.stdin.end();
    await holder.exited;
  }
  // The other arbiter stopped; its journal stays at the path for its region's next start.
  expect(kept.keep()).toBe(false);
  expect(rewrites).toEqual([]);
  expect(errors).toHaveBeenCalledTimes(1);
});

test("a rewrite refused as another arbiter's each time is looked at again once, then said gone", () => {
  const path = join(dir, "never-there.state");
  const { kept, rewrites, errors } = keeper(path, () => {
    throw failure("ArbiterRunning", "write the state journal", "another arbiter made it");
  });
  expect(kept.keep()).toBe(false);
  expect(rewrites.length).toBe(2);
  expect(errors).toHaveBeenCalledTimes(1);
});
