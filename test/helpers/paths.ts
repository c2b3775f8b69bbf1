/** Unique, self-cleaning places for a test's region, socket and state file. */
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";

export const REPO = join(import.meta.dir, "../..");
export const CLI = join(REPO, "src/cli.ts");
export const FIXTURES = join(REPO, "test/fixtures");

export interface TestPaths {
  dir: string;
  shmDir: string;
  region: string;
  socket: string;
  state: string;
  cleanup(): void;
}

export function testPaths(label: string): TestPaths {
  const dir = mkdtempSync(join("/tmp", `ivsh-${label}-`));
  const shmDir = mkdtempSync(join("/dev/shm", `ivsh-${label}-`));
  return {
    dir,
    shmDir,
    region: join(shmDir, "region"),
    socket: join(dir, "arbiter.sock"),
    state: join(dir, "arbiter.state"),
    cleanup() {
      removeTree(dir);
      removeTree(shmDir);
    },
  };
}

/**
 * Bun's recursive rmSync gives up, silently, when an entry vanishes under it: an arbiter still exiting
 * removes its socket meanwhile, and the directory stayed (an empty /tmp/ivsh-match-ns-b-* after a CI run).
 * Tried again while it is there.
 */
function removeTree(path: string): void {
  for (let attempt = 0; attempt < 5 && existsSync(path); attempt++)
    rmSync(path, { recursive: true, force: true });
}
