/**
 * An arbiter that could not make the region's wake-up file at its start (REGION.wake: EACCES, ENOSPC,
 * EROFS; its WARN says so) never looked at it again. A file put there since (by the operator, or a host
 * client of an older ivsh) was opened by every host client that connected, which futex-parked on it,
 * but the arbiter neither woke them through it (a guest's wake-up waited for their 16 ms slice) nor
 * watched it (removed, nothing said); and with the cause gone, it was made only by a restart. Now the
 * sweep tries again while it has none: it adopts a file put there, or makes one once it can.
 * Out of inodes here (a tmpfs with two: its directory and the region), then given more (remount).
 */
import { afterAll, expect } from "bun:test";
import { existsSync, rmSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, livenessBoundMs } from "./helpers/processes.ts";
import { cannotMount, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

const own = testPaths("wake-file-late");
afterAll(() => own.cleanup());

/** An arbiter whose region is the second of a 2-inode tmpfs's files (no room for REGION.wake), for `body`. */
function withoutWakeFile(
  name: string,
  body: (arbiter: ArbiterProcess, region: string, dir: string) => Promise<void>,
  /** A shell command put at REGION.wake with the remount, the arbiter stopped meanwhile (no sweep first). */
  put?: (wake: string) => string,
) {
  return withSmallTmpfs(
    join(own.dir, name),
    "2m",
    async (dir) => {
      const region = join(dir, "region");
      writeFileSync(region, new Uint8Array(1 << 20), { mode: 0o600 });
      const paths = {
        ...own,
        region,
        socket: join(own.dir, `${name}.sock`),
        state: join(own.dir, `${name}.state`),
      };
      const arbiter = await ArbiterProcess.start(paths, { lease: "1s", size: "1MiB" });
      try {
        expect(existsSync(`${region}.wake`)).toBe(false);
        // More inodes: the cause gone.
        const remount = `mount -o remount,nr_inodes=16 ${dir}`;
        if (put) process.kill(arbiter.pid, "SIGSTOP");
        try {
          const script = put ? `${remount} && ${put(`${region}.wake`)}` : remount;
          expect(Bun.spawnSync(["sh", "-c", script]).exitCode).toBe(0);
        } finally {
          if (put) process.kill(arbiter.pid, "SIGCONT");
        }
        await body(arbiter, region, dir);
      } finally {
        await arbiter.stop();
      }
    },
    2,
  );
}

testUnless(
  cannotMount,
  "a wake-up file put there after the arbiter could not make one: adopted (grown to its size) and watched",
  () =>
    withoutWakeFile("put-there", async (arbiter, region) => {
      const wake = `${region}.wake`;
      writeFileSync(wake, "", { mode: 0o666 });
      await eventually(
        async () => statSync(wake).size > 0,
        livenessBoundMs(1000),
        "the arbiter to adopt the wake-up file (it grows it to the region's slots)",
      );
      // Watched now: removed, status names it.
      const client = await connect({ region, socket: arbiter.paths.socket, name: "watcher" });
      try {
        rmSync(wake);
        await eventually(
          async () => ((await client.status(0)).problems ?? []).some((problem) => problem.includes(wake)),
          livenessBoundMs(1000),
          "status to name the adopted wake-up file's removal",
        );
      } finally {
        await client.close();
      }
      await arbiter.stop();
      expect(await arbiter.spawned.stderr).toContain(`the region's wake-up file ${wake} is there now`);
    }),
  60_000,
);

testUnless(
  cannotMount,
  "the cause gone (room for the file): the arbiter makes the wake-up file itself, without a restart",
  () =>
    withoutWakeFile("made-later", async (_arbiter, region) => {
      const wake = `${region}.wake`;
      await eventually(
        async () => existsSync(wake),
        livenessBoundMs(1000),
        "the arbiter to make the wake-up file",
      );
      // Made by the arbiter: every user of this kernel may park on it.
      expect(statSync(wake).mode & 0o777).toBe(0o666);
    }),
  60_000,
);

for (const [what, put] of [
  ["a FIFO", (wake: string) => `mkfifo ${wake}`],
  ["a directory", (wake: string) => `mkdir ${wake}`],
] as const)
  testUnless(
    cannotMount,
    `${what} put there after the arbiter could not make the wake-up file: the sweep goes on, and says why`,
    () =>
      withoutWakeFile(
        `put-${what.split(" ")[1]}`,
        async (arbiter, region) => {
          const client = await connect({ region, socket: arbiter.paths.socket, name: "asker" });
          try {
            // Sweeps (every 250 ms) that try it; each must return (open(2) of a FIFO may block).
            await Bun.sleep(1500);
            expect((await client.status(0)).problems).toBeUndefined();
          } finally {
            await client.close();
          }
          await arbiter.stop();
          const stderr = await arbiter.spawned.stderr;
          // Said once, with what to do: the start's WARN ("make room") no longer says why.
          const said = `the region's wake-up file ${region}.wake is not a regular file`;
          expect(stderr.split(said).length - 1).toBe(1);
          expect(stderr).toContain("remove it, and the arbiter makes the file at its next sweep");
          // With the refusal's own words (mutation round 31: they were dropped unnoticed).
          expect(stderr).toMatch(new RegExp(`${said} \\(.*\\b(EISDIR|EINVAL)\\b.*\\): remove it`));
        },
        put,
      ),
    60_000,
  );
