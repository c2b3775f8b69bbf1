/**
 * A --socket whose directory cannot take the socket's files (its file system out of inodes or space, a
 * directory of /proc): `ivsh host` says which --socket, why and what to do, in one line, exit 1, and
 * leaves nothing behind. It said the bare system call on a private name the operator never gave
 * (`bind /run/ivsh/ivsh.sock.~3f2a1c: ENOSPC`).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { expectOneLine, runHost } from "./helpers/host-run.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { cannotMount, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("host-socket-room");
});
afterAll(() => paths?.cleanup());

/** Makes files in `dir` until its file system holds no more; returns their names. */
function fillInodes(dir: string): string[] {
  const names: string[] = [];
  for (;;) {
    const name = `filler-${names.length}`;
    try {
      writeFileSync(join(dir, name), "");
    } catch (error) {
      if ((error as { code?: string }).code !== "ENOSPC") throw error;
      return names;
    }
    names.push(name);
  }
}

// No inode left: the first bind fails. One left: the hand-over socket's bind takes it and the link (or
// the stream socket's bind) fails. Each fails in another call; each must be said the same way.
for (const free of [0, 1]) {
  testUnless(
    cannotMount,
    `--socket on a file system with ${free} inode(s) free: one line naming --socket, ENOSPC and what to do`,
    () =>
      withSmallTmpfs(
        join(paths.dir, `full-${free}`),
        "1m",
        async (small) => {
          const fillers = fillInodes(small);
          for (const name of fillers.slice(0, free)) rmSync(join(small, name));
          const socket = join(small, "arbiter.sock");
          const region = join(paths.shmDir, `region-${free}`);
          const { exitCode, stderr } = await runHost({ region, socket, state: `${region}.state` });
          expect(exitCode).toBe(1);
          expectOneLine(stderr, `Failed to listen on ${socket}`);
          expect(stderr).toContain(`the file system of ${small} has no room for another file (ENOSPC`);
          expect(stderr).toContain("choose another --socket");
          expect(stderr).not.toContain(".~");
          // A start that fails disturbs nothing: no region, state or socket file of its own is left.
          expect(existsSync(region)).toBe(false);
          expect(existsSync(`${region}.state`)).toBe(false);
          expect(readdirSync(small).sort()).toEqual(fillers.slice(free).sort());
        },
        8,
      ),
    60_000,
  );
}

test("--socket in /proc: one line naming --socket and what to do, not a bare bind error", async () => {
  const socket = "/proc/ivsh-host-socket-room.sock";
  const region = join(paths.shmDir, "region-proc");
  const { exitCode, stderr } = await runHost({ region, socket, state: `${region}.state` });
  expect(exitCode).toBe(1);
  // As root the bind fails (ENOENT); as another user the start's check refuses the directory first.
  expectOneLine(stderr, socket);
  expect(stderr).toMatch(/Failed to listen on (--socket )?\/proc\/ivsh-host-socket-room\.sock since/);
  expect(stderr).toContain("choose another --socket");
  expect(stderr).not.toContain(".~");
  expect(existsSync(region)).toBe(false);
});
