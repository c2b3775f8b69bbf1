/**
 * `ivsh host` with its region, socket or state journal on a read-only file system, as every directory but
 * a unit's own and its ReadWritePaths= is under contrib/systemd/ivsh-host.service's ProtectSystem=strict:
 * the error says the file system is read-only and what to do. Before, a region there was a bare "open
 * PATH: EROFS (Read-only file system)", and a socket there "this user may not create files in" a
 * directory of mode 1777 (seen running the unit under a booted systemd; scripts/systemd-unit-check.sh); a
 * journal's said nothing of the unit. So for the region's wake-up file, and for a client mapping a region
 * it sees read-only. A read-only tmpfs or bind mount of the test's own stands in (mounting needs root).
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { expectOneLine, runHost } from "./helpers/host-run.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { cannotMount, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";
import { guest } from "./helpers/transfer.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("host-read-only");
});
afterAll(() => paths?.cleanup());

/** Runs `body` with a read-only tmpfs of its own. */
function withReadOnly(name: string, body: (dir: string) => Promise<void>): Promise<void> {
  return withSmallTmpfs(join(paths.dir, name), "1m", async (dir) => {
    const remounted = Bun.spawnSync(["mount", "-o", "remount,ro", dir]);
    if (remounted.exitCode !== 0) throw new Error(`remount ${dir} read-only: ${remounted.stderr}`);
    await body(dir);
  });
}

testUnless(
  cannotMount,
  "a region on a read-only file system: EROFS, and where to keep it (or ReadWritePaths=)",
  () =>
    withReadOnly("region", async (dir) => {
      const region = join(dir, "region");
      const result = await runHost({ region, socket: join(paths.dir, "region.sock") });
      expect(result.exitCode).toBe(1);
      expectOneLine(
        result.stderr,
        `Failed to open the region ${region} since ${dir} is on a read-only file system (EROFS): keep the ` +
          `region in /dev/shm, or, under a systemd unit with ProtectSystem=, add ${dir} to its ReadWritePaths=`,
      );
      expect(existsSync(join(paths.dir, "region.sock"))).toBe(false);
    }),
  60_000,
);

testUnless(
  cannotMount,
  "a socket on a read-only file system: EROFS, not 'this user may not create files'",
  () =>
    withReadOnly("socket", async (dir) => {
      const socket = join(dir, "arbiter.sock");
      const region = join(paths.shmDir, "socket-region");
      const result = await runHost({ region, socket });
      expect(result.exitCode).toBe(1);
      expectOneLine(
        result.stderr,
        `Failed to listen on --socket ${socket} since ${dir} is on a read-only file system (EROFS), where the ` +
          "socket and the '.handover' socket beside it go (choose another --socket; under a systemd unit with " +
          "ProtectSystem=, one in its RuntimeDirectory=, e.g. /run/ivsh/ivsh.sock)",
      );
      expect(result.stderr).not.toContain("may not create files");
      expect(existsSync(region)).toBe(false);
    }),
  60_000,
);

testUnless(
  cannotMount,
  "a state journal on a read-only file system: EROFS, and ReadWritePaths= as for a region",
  () =>
    withReadOnly("state", async (dir) => {
      const state = join(dir, "ivsh.state");
      const region = join(paths.shmDir, "state-region");
      const result = await runHost({ region, socket: join(paths.dir, "state.sock"), state });
      expect(result.exitCode).toBe(1);
      expectOneLine(
        result.stderr,
        `Failed to write the state file ${state} since ${dir} is on a read-only file system (EROFS); pass --state ` +
          `on a writable file system with room, or, under a systemd unit with ProtectSystem=, add ${dir} to its ` +
          "ReadWritePaths=",
      );
      expect(existsSync(join(paths.dir, "state.sock"))).toBe(false);
    }),
  60_000,
);

/**
 * The region's file writable on a read-only file system (a unit's ReadWritePaths= naming the file alone, as
 * a bind mount does here): it serves, but its wake-up file beside it cannot be made, and the warning said
 * "let the arbiter's user write" its directory, which no user or mode changes.
 */
testUnless(
  cannotMount,
  "a region's directory read-only but the file not: the wake-up file's warning says read-only (EROFS), not a user's permission",
  () =>
    withSmallTmpfs(join(paths.dir, "wake"), "2m", async (dir) => {
      const region = join(dir, "region");
      writeFileSync(region, "", { mode: 0o660 });
      mountOrThrow(["--bind", region, region]);
      try {
        mountOrThrow(["-o", "remount,bind,ro", dir]);
        const files = { region, socket: join(paths.dir, "wake.sock"), state: join(paths.dir, "wake.state") };
        const arbiter = await ArbiterProcess.start({ ...paths, ...files }, { size: "1MiB" });
        await arbiter.stop();
        const stderr = await arbiter.spawned.stderr;
        expect(stderr).toContain(`open ${region}.wake: EROFS`);
        expect(stderr).toContain(
          `; ${dir} is on a read-only file system: under a systemd unit with ProtectSystem=, add ${dir} (not the ` +
            "region's file alone) to its ReadWritePaths=",
        );
        expect(stderr).not.toContain("let the arbiter's user write");
      } finally {
        Bun.spawnSync(["umount", region]);
      }
    }),
  60_000,
);

function mountOrThrow(words: string[]): void {
  const mounted = Bun.spawnSync(["mount", ...words]);
  if (mounted.exitCode !== 0) throw new Error(`mount ${words.join(" ")}: ${mounted.stderr}`);
}

/**
 * A client whose view of the region's directory is read-only (its own unit's ProtectSystem=, a read-only
 * bind mount here) while the arbiter serves it: mapping the region failed as a bare "open PATH: EROFS
 * (Read-only file system)", the refusal the arbiter's own start no longer gives.
 */
testUnless(
  cannotMount,
  "a client mapping a region on a read-only file system: EROFS, and ReadWritePaths=",
  () =>
    withSmallTmpfs(join(paths.dir, "client"), "2m", async (dir) => {
      const files = {
        region: join(dir, "region"),
        socket: join(paths.dir, "client.sock"),
        state: join(paths.dir, "client.state"),
      };
      const arbiter = await ArbiterProcess.start({ ...paths, ...files }, { size: "1MiB" });
      const view = join(paths.dir, "client-view");
      mkdirSync(view);
      mountOrThrow(["--bind", dir, view]);
      try {
        mountOrThrow(["-o", "remount,bind,ro", view]);
        const region = join(view, "region");
        const refused = await connect({ socket: files.socket, region }).then(
          (client) => client.close().then(() => undefined),
          (error: Error) => error.message,
        );
        expect(refused).toBe(
          `Failed to map the region ${region} since ${view} is on a read-only file system (EROFS): keep the region ` +
            `in /dev/shm, or, under a systemd unit with ProtectSystem=, add ${view} to its ReadWritePaths=`,
        );
      } finally {
        Bun.spawnSync(["umount", view]);
        await arbiter.stop();
      }
    }),
  60_000,
);

testUnless(
  cannotMount,
  "recv --out on a read-only file system: EROFS, and to choose another --out, not that its directory exists",
  () =>
    withReadOnly("recv-out", async (dir) => {
      const arbiter = await ArbiterProcess.start(paths, { size: "4MiB" });
      try {
        const out = join(dir, "x");
        const receiver = guest(paths, ["recv", "--out", out]);
        expect(await receiver.exit()).toBe(1);
        // Before: "(--out names the file to write, in a directory that exists)": it does exist.
        expect(await receiver.stderr).toContain(
          `Failed to write ${out} since ${out}.partial is on a read-only file system (EROFS) (choose another --out, on a writable file system)`,
        );
      } finally {
        await arbiter.stop();
      }
    }),
  60_000,
);
