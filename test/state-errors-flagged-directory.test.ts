/**
 * src/host/state-errors.ts on a first start whose --state would be made in a directory flagged immutable
 * (chattr +i): the real open's EPERM names the directory's flag, not "this user may not write" (to root).
 */
import { afterAll, expect } from "bun:test";
import { mkdirSync, mkdtempSync, openSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { stateFileFailure } from "../src/host/state-errors.ts";
import { testUnless } from "./helpers/tools.ts";

const chattr = (flag: string, path: string) => Bun.spawnSync(["chattr", flag, path]).exitCode === 0;

/** Why the flag cannot be set here (not root, no chattr, a /dev/shm without it), or undefined. */
function cannotFlag(): string | undefined {
  if (process.getuid?.() !== 0) return "only root may set the immutable flag (chattr +i)";
  if (!Bun.which("chattr")) return "chattr is not installed";
  const probe = mkdtempSync("/dev/shm/mut23-chattr-");
  writeFileSync(join(probe, "f"), "");
  const works = chattr("+i", join(probe, "f"));
  chattr("-i", join(probe, "f"));
  rmSync(probe, { recursive: true });
  return works ? undefined : "/dev/shm's file system here has no immutable flag (chattr +i)";
}

const root = mkdtempSync("/dev/shm/state-errors-flagged-");
afterAll(() => rmSync(root, { recursive: true, force: true }));

testUnless(
  cannotFlag(),
  "a journal to be made in an immutable directory: the directory's flag is named",
  () => {
    const dir = join(root, "frozen");
    mkdirSync(dir);
    const state = join(dir, "ivsh.state");
    chattr("+i", dir);
    try {
      let refusal: unknown;
      try {
        openSync(state, "wx");
      } catch (error) {
        refusal = error;
      }
      expect((refusal as { code?: string }).code).toBe("EPERM");
      const failure = stateFileFailure(refusal, state, "create the state journal", true);
      expect(failure.message).not.toContain("may not write in");
      expect(failure.message).toContain(
        `its directory ${dir} is immutable (chattr +i; lsattr shows it): no one may write it, root included ` +
          "(clear the flag with chattr -i, or pass another --state)",
      );
    } finally {
      chattr("-i", dir);
    }
  },
);
