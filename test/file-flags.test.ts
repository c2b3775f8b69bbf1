/**
 * src/ffi/file-flags.ts on its own: which errors the directory's flag is said for, what a made file's
 * failed removal returns for a refusal that is not ours, and that a symbolic link is not taken for the
 * flagged file it points to (renaming over the link, or removing it, touches the link only).
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { removalRefusal, removeMadeFile, renameRefusedBy } from "../src/ffi/file-flags.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { testUnless } from "./helpers/tools.ts";

const chattr = (flag: string, path: string) => Bun.spawnSync(["chattr", flag, path]).exitCode === 0;

/** Why files cannot be flagged here (not root, no chattr, a /dev/shm without the flags), or undefined. */
function cannotFlag(): string | undefined {
  if (process.getuid?.() !== 0) return "only root may set the immutable and append-only flags (chattr)";
  if (!Bun.which("chattr")) return "chattr is not installed";
  const probe = testPaths("flags-probe");
  try {
    const file = join(probe.shmDir, "probe");
    writeFileSync(file, "");
    const works = chattr("+i", file) && chattr("-i", file) && chattr("+a", probe.shmDir);
    chattr("-a", probe.shmDir);
    return works ? undefined : "/dev/shm's file system here has no immutable or append-only flag (chattr)";
  } finally {
    probe.cleanup();
  }
}
const flagless = cannotFlag();

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("file-flags");
});
afterAll(() => paths?.cleanup());

/** A new directory under /dev/shm holding `file`, flagged append-only while `run` runs. */
function inAppendOnly(name: string, run: (dir: string, file: string) => void): void {
  const dir = join(paths.shmDir, name);
  mkdirSync(dir);
  const file = join(dir, "made");
  writeFileSync(file, "");
  expect(chattr("+a", dir)).toBe(true);
  try {
    run(dir, file);
  } finally {
    chattr("-a", dir);
  }
}

const errnoError = (code: string) => Object.assign(new Error(`unlink: ${code}`), { code });

testUnless(flagless, "removalRefusal names the directory's flag for EPERM only", () => {
  inAppendOnly("errnos", (dir, file) => {
    expect(removalRefusal(errnoError("EPERM"), file)).toStartWith(
      `EPERM: its directory ${dir} is append-only (chattr +a;`,
    );
    // Not the flag's doing: a read-only file system, a busy file, say so alone.
    expect(removalRefusal(errnoError("EROFS"), file)).toBe("EROFS");
    expect(removalRefusal(errnoError("EBUSY"), file)).toBe("EBUSY");
  });
});

testUnless(flagless, "removeMadeFile: a refusal that is not an IvshError is returned as it is", () => {
  inAppendOnly("not-ours", (_dir, file) => {
    const refusal = new RangeError("no room");
    expect(removeMadeFile(file, refusal)).toBe(refusal);
  });
});

testUnless(flagless, "a symbolic link to an immutable file is not flagged itself", () => {
  const target = join(paths.shmDir, "immutable-target");
  const link = join(paths.dir, "link-to-immutable");
  writeFileSync(target, "");
  symlinkSync(target, link);
  expect(chattr("+i", target)).toBe(true);
  try {
    expect(renameRefusedBy(target)).toBe("immutable");
    expect(renameRefusedBy(link)).toBeUndefined();
  } finally {
    chattr("-i", target);
  }
});
