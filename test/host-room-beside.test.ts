/**
 * A region sized to exactly its tmpfs's free space: it served, then its state journal (REGION.state by
 * default) and its wake-up file on the same file system took pages the region's holes need, and a restart
 * with the same flags was refused ("the region needs 7.93 MiB more but ... only 7.93 MiB free"), with no
 * word of why. The start counts those files now and names them, and so does the refusal of a restart whose
 * journal has grown into the region's room.
 */
import { expect } from "bun:test";
import { copyFileSync, existsSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { asParentOfArbiter } from "../src/host/parent.ts";
import { formatBytes } from "../src/units.ts";
import { expectOneLine } from "./helpers/host-run.ts";
import { CLI, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { cannotMount, fillFile, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

const MIB = 1 << 20;
/** The wake-up file of 1024 slots (two u32 each) and the journal's first page. */
const BESIDE = 8192 + 4096;
/** Liveness bound only: a refused start exits in well under a second; one that serves runs on. */
const BOUND_MS = 20_000;

/** `ivsh host` of an 8 MiB region with 1024 slots: its exit code, or "served" (stopped after the bound). */
async function startHost(files: { region: string; socket: string; state?: string }, size = "8MiB") {
  const flags = ["--size", size, "--block-size", "64KiB", "--slots", "1024"];
  const state = files.state ? ["--state", files.state] : [];
  const child = tracked(
    Bun.spawn(
      [process.execPath, CLI, "host", "--region", files.region, "--socket", files.socket, ...flags, ...state],
      { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", ...asParentOfArbiter() } },
    ),
  );
  const stderr = new Response(child.stderr).text();
  const code = await exitOrKill(child, BOUND_MS);
  return { exitCode: code === "late" ? "served" : code, stderr: await stderr };
}

testUnless(
  cannotMount,
  "a region of exactly its tmpfs's free space, journal beside it: refused at start, naming the journal and wake-up file",
  async () => {
    const paths = testPaths("room-exact");
    try {
      await withSmallTmpfs(join(paths.dir, "small"), "8m", async (small) => {
        const region = join(small, "region");
        const files = { region, socket: paths.socket };
        // Before: it served, and its restart was refused.
        const { exitCode, stderr } = await startHost(files);
        expect(exitCode).toBe(1);
        expectOneLine(
          stderr,
          `Failed to use ${region} as a 8.00 MiB region since the region needs 8.00 MiB more, but its file ` +
            `system at ${small} has only 8.00 MiB free, and the arbiter's files beside it there need room too ` +
            `(its state journal ${region}.state: 4.00 KiB, its wake-up file ${region}.wake: 8.00 KiB); pass a ` +
            "smaller --size, or a --state on another file system",
        );
        expect(existsSync(region)).toBe(false);
      });
    } finally {
      paths.cleanup();
    }
  },
  60_000,
);

testUnless(
  cannotMount,
  "a region with just the room for its journal's first page: it restarts; once the journal has grown, the refusal names it",
  async () => {
    const paths = testPaths("room-grown");
    try {
      await withSmallTmpfs(join(paths.dir, "small"), String(8 * MIB + BESIDE), async (small) => {
        const own = { ...paths, region: join(small, "region"), state: join(small, "region.state") };
        const flags = { size: "8MiB", blockSize: "64KiB", slots: "1024" };
        const first = await ArbiterProcess.start(own, flags);
        await first.stop();
        const again = await ArbiterProcess.start(own, flags); // the journal's first page had its room
        try {
          // Records until the journal takes more than the room left: the region's own.
          const client = await connect({ socket: own.socket, region: own.region });
          for (let round = 0; statSync(own.state).blocks * 512 <= BESIDE && round < 1000; round++)
            await (await client.alloc(4096)).free();
          await client.close();
          // Served meanwhile: a second start is told so (not of room), even with a journal of its own beside it.
          const copy = join(small, "copy.state");
          copyFileSync(own.state, copy);
          const second = await startHost({ ...own, socket: join(paths.dir, "second.sock"), state: copy });
          rmSync(copy);
          expect(second.stderr).toContain("another arbiter");
          expect(second.exitCode).toBe(1);
        } finally {
          await again.stop();
        }
        const journal = statSync(own.state).blocks * 512;
        const { exitCode, stderr } = await startHost(own);
        expect(exitCode).toBe(1);
        // Before: "the region needs 7.99 MiB more but its file system at ... has only 7.98 MiB free; pass a
        // smaller --size or free space there", neither the journal nor --state named.
        expectOneLine(
          stderr,
          `and the arbiter's files beside it there need room too (its state journal ${own.state}: ` +
            `${formatBytes(journal)}, its wake-up file ${own.region}.wake: 8.00 KiB); free space there, or move ` +
            "the state file to another file system",
        );
      });
    } finally {
      paths.cleanup();
    }
  },
  60_000,
);

testUnless(
  cannotMount,
  "a region of exactly its tmpfs's free space, state on another file system: the refusal does not tell to move it there",
  async () => {
    const paths = testPaths("room-state-away");
    try {
      await withSmallTmpfs(join(paths.dir, "small"), "8m", async (small) => {
        const region = join(small, "region");
        const { exitCode, stderr } = await startHost({ region, socket: paths.socket, state: paths.state });
        expect(exitCode).toBe(1);
        // Before: "...; pass a smaller --size, or a --state on another file system", which it already was.
        expectOneLine(
          stderr,
          `need room too (its wake-up file ${region}.wake: 8.00 KiB); pass a smaller --size or free space there`,
        );
        expect(stderr).not.toContain("--state");
      });
    } finally {
      paths.cleanup();
    }
  },
  60_000,
);

testUnless(
  cannotMount,
  "a restart with another --size, journal beside the region: told the file's size, not of room",
  async () => {
    const paths = testPaths("room-other-size");
    try {
      await withSmallTmpfs(join(paths.dir, "small"), "16m", async (small) => {
        const own = { ...paths, region: join(small, "region"), state: join(small, "region.state") };
        const flags = { size: "8MiB", blockSize: "64KiB", slots: "1024" };
        await (await ArbiterProcess.start(own, flags)).stop();
        const { exitCode, stderr } = await startHost(own, "64MiB");
        expect(exitCode).toBe(1);
        // Before: "the region needs 63.9 MiB more, but ... and the arbiter's files beside it there need room
        // too (...); pass a smaller --size, or a --state on another file system".
        expectOneLine(stderr, "the file is already 8.00 MiB (pass --size 8MiB");
      });
    } finally {
      paths.cleanup();
    }
  },
  60_000,
);

testUnless(
  cannotMount,
  "a restart whose region has all its pages, its file system full: the refusal says what the files beside it need",
  async () => {
    const paths = testPaths("room-all-pages");
    try {
      await withSmallTmpfs(join(paths.dir, "small"), String(8 * MIB + BESIDE), async (small) => {
        const own = { ...paths, region: join(small, "region"), state: join(small, "region.state") };
        await (await ArbiterProcess.start(own, { size: "8MiB", blockSize: "64KiB", slots: "1024" })).stop();
        // Every page of the region taken (refused before its contents are read), the rest by another file.
        writeFileSync(own.region, Buffer.alloc(8 * MIB));
        fillFile(join(small, "filler"));
        const { exitCode, stderr } = await startHost(own);
        expect(exitCode).toBe(1);
        // Before: "the region needs 0 B more, but its file system at ... has only 0 B free, and the arbiter's
        // files beside it there need room too (...)".
        expectOneLine(
          stderr,
          `since the arbiter's files beside it need 8.00 KiB more there (its state journal ${own.state}: ` +
            `4.00 KiB, its wake-up file ${own.region}.wake: 8.00 KiB), but its file system at ${small} has ` +
            "only 0 B free; free space there, or move the state file",
        );
      });
    } finally {
      paths.cleanup();
    }
  },
  60_000,
);
