/**
 * The region's wake-up file (`REGION.wake`, src/region/mailbox.ts) is what the arbiter wakes the host's
 * futex sleepers through. When it cannot be made, host clients park the slower way (in the arbiter): the
 * arbiter says so once, naming the file, errno and what it costs, instead of nothing.
 */
import { afterAll, expect } from "bun:test";
import { chmodSync, chownSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { startLines, withRegionDirUnsearchable } from "./helpers/host-run.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { cannotMount, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

const NOBODY = 65534;
const asRoot = process.getuid?.() === 0 ? undefined : "only root can run the arbiter as another user here";
const own = testPaths("wake-file");
afterAll(() => own.cleanup());

testUnless(
  asRoot ?? toolMissing("setpriv"),
  "a region in a directory the arbiter may not write: one WARN names the wake-up file, its errno and the slower parking",
  async () => {
    // nobody's region (zeros, mode 0600) in root's directory; nobody's socket and state elsewhere.
    const regionDir = join(own.shmDir, "root-owned");
    const runDir = join(own.dir, "nobody");
    mkdirSync(regionDir, { mode: 0o755 });
    mkdirSync(runDir);
    chownSync(runDir, NOBODY, NOBODY);
    for (const dir of [own.shmDir, own.dir]) chmodSync(dir, 0o711);
    const region = join(regionDir, "region");
    writeFileSync(region, new Uint8Array(1 << 20), { mode: 0o600 });
    chownSync(region, NOBODY, NOBODY);
    const args = ["--region", region, "--socket", join(runDir, "s.sock"), "--state", join(runDir, "state")];
    const said = await startLines([...args, "--size", "1MiB"], runDir, NOBODY);
    const warned = said.split("\n").filter((line) => line.includes("wake-up file"));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toContain(
      `WARN the region's wake-up file could not be made (open ${region}.wake: EACCES (Permission denied)): ` +
        "host clients park in the arbiter instead of on a futex",
    );
    expect(warned[0]).toEndWith(`; let the arbiter's user write ${regionDir}`);
    expect(existsSync(`${region}.wake`)).toBe(false);
  },
  60_000,
);

testUnless(
  cannotMount,
  "a region on a file system out of files (inodes): the WARN names ENOSPC and says to make room",
  async () => {
    await withSmallTmpfs(
      join(own.dir, "full"),
      "2m",
      async (dir) => {
        const region = join(dir, "region"); // the second of two inodes, the directory the first
        writeFileSync(region, new Uint8Array(1 << 20), { mode: 0o600 });
        const args = [
          "--region",
          region,
          "--socket",
          join(own.dir, "s.sock"),
          "--state",
          join(own.dir, "state"),
        ];
        const said = await startLines([...args, "--size", "1MiB"], own.dir);
        const warned = said.split("\n").filter((line) => line.includes("wake-up file"));
        expect(warned).toHaveLength(1);
        expect(warned[0]).toContain(`could not be made (open ${region}.wake: ENOSPC`);
        expect(warned[0]).toEndWith(`; make room on ${dir}'s file system`);
      },
      2,
    );
  },
  60_000,
);

testUnless(
  asRoot ?? toolMissing("setpriv"),
  "the region's directory made unsearchable under an arbiter without its wake-up file: each sweep goes on, the new reason said once",
  async () => {
    // A directory at REGION.wake (EISDIR at the start), then the region's directory searchable no more:
    // the sweep's open(2) fails with EACCES, and the lstat naming what is there could not look either.
    const { region, rest, exitCode } = await withRegionDirUnsearchable(own, "unsearchable", NOBODY, {
      beforeStart: (region) => mkdirSync(`${region}.wake`),
    });
    expect(rest).not.toContain("Failed to lstat");
    const said = `could not be made (open ${region}.wake: EACCES (Permission denied))`;
    expect(rest.split(said).length - 1).toBe(1);
    expect(exitCode).toBe(0);
  },
  60_000,
);

// Mutation round 31: the start's reason kept in the same form as each sweep's try compares it (errno), or
// the first sweep said the WARN again for a cause that had not changed.
testUnless(
  cannotMount,
  "the cause lasting (no inode for the file): the sweeps try again and say nothing more than the start's WARN",
  () =>
    withSmallTmpfs(
      join(own.dir, "still-full"),
      "2m",
      async (dir) => {
        const region = join(dir, "region"); // the second of two inodes, the directory the first
        writeFileSync(region, new Uint8Array(1 << 20), { mode: 0o600 });
        const paths = {
          ...own,
          region,
          socket: join(own.dir, "still.sock"),
          state: join(own.dir, "still.state"),
        };
        const arbiter = await ArbiterProcess.start(paths, { lease: "1s", size: "1MiB" });
        try {
          await Bun.sleep(1500); // six sweeps, each trying
        } finally {
          await arbiter.stop();
        }
        const stderr = await arbiter.spawned.stderr;
        expect(stderr.split("the region's wake-up file could not be made").length - 1).toBe(1);
      },
      2,
    ),
  60_000,
);
