/**
 * A FILE.partial this user cannot open (to flock it) is judged by /proc/locks (src/transfer/out-names.ts,
 * removeStale): listed as locked, a live receiver holds it and --force does not take it over. Where
 * /proc/locks names the file's device otherwise than stat does (overlayfs with layers on two file systems,
 * btrfs subvolumes), or cannot be read at all, that was taken as "nobody holds it".
 */
import { afterAll, expect } from "bun:test";
import { chmodSync, existsSync, lstatSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { closeFd, fileStatus, O_RDONLY, openFile, tryLockExclusive } from "../src/ffi/index.ts";
import { NOBODY, notRoot } from "./helpers/as-nobody.ts";
import { REPO } from "./helpers/paths.ts";
import { straceUnusable, testUnless, toolMissing } from "./helpers/tools.ts";

const directory = mkdtempSync(join(tmpdir(), "out-partial-locks-"));
const layers = mkdtempSync("/dev/shm/out-partial-locks-");
const mounted: string[] = [];
afterAll(() => {
  // Here, not in the tests: a run that filtered them out mounted them all the same.
  for (const merged of mounted) Bun.spawnSync(["umount", merged]);
  rmSync(directory, { recursive: true, force: true });
  rmSync(layers, { recursive: true, force: true });
});
chmodSync(directory, 0o755);

/** A script nobody runs: openPartial with --force on argv[2] (the partial) for argv[3] (the target). */
function forceScript(): string {
  const script = join(directory, "force.ts");
  writeFileSync(
    script,
    `import { openPartial } from ${JSON.stringify(join(REPO, "src/transfer/out-names.ts"))};\n` +
      "try { openPartial(process.argv[2], process.argv[3], true, '--out'); console.log('taken over'); }\n" +
      "catch (error) { console.log(error.message); }\n",
  );
  return script;
}

/** Runs `command` as nobody; its stdout. */
function asNobody(command: string[], prefix: string[] = []): string {
  const child = Bun.spawnSync([
    ...prefix,
    "setpriv",
    `--reuid=${NOBODY}`,
    `--regid=${NOBODY}`,
    "--clear-groups",
    ...command,
  ]);
  expect(child.stderr.toString()).toBe("");
  return child.stdout.toString();
}

/** A root-owned 0600 partial in a directory anyone may write, locked by this process while `run` runs. */
function withLockedPartial(shared: string, run: (partial: string, target: string) => void): void {
  chmodSync(shared, 0o777);
  const target = join(shared, "file");
  const partial = `${target}.partial`;
  // One there already is in an overlay's lower layer (written through the overlay, it would be copied up).
  if (!existsSync(partial)) writeFileSync(partial, "a live receiver's bytes", { mode: 0o600 });
  const theirs = openFile(partial, O_RDONLY);
  try {
    expect(tryLockExclusive(theirs, partial)).toBe(true);
    run(partial, target);
    const named = lstatSync(partial);
    expect(`${named.dev}:${named.ino}`).toBe(fileStatus(theirs, partial).identity);
  } finally {
    closeFd(theirs);
  }
}

/**
 * An overlay at DIRECTORY/merged-NAME, its upper layer on tmpfs, its lower on the test directory's file
 * system, with `options`; a partial put in its lower layer first if `inLower`. Why it cannot be, if so.
 */
function overlayUnusable(name: string, options: string, inLower: boolean): string | undefined {
  if (notRoot) return notRoot;
  const [lower, merged] = [join(directory, `lower-${name}`), join(directory, `merged-${name}`)];
  const [upper, work] = [join(layers, `upper-${name}`), join(layers, `work-${name}`)];
  for (const made of [join(lower, "shared"), merged, upper, work]) mkdirSync(made, { recursive: true });
  if (inLower) writeFileSync(join(lower, "shared", "file.partial"), "an image's bytes", { mode: 0o600 });
  const layout = `lowerdir=${lower},upperdir=${upper},workdir=${work}${options}`;
  const mount = Bun.spawnSync(["mount", "-t", "overlay", "overlay", "-o", layout, merged]);
  if (mount.exitCode !== 0) return `overlayfs cannot be mounted here: ${mount.stderr.toString().trim()}`;
  mounted.push(merged);
  return undefined;
}

for (const [name, options, inLower, story] of [
  // stat gives a file made in the upper layer that layer's device, /proc/locks the overlay's own.
  ["two-devices", "", false, "its upper layer on another file system than its lower"],
  // A lower file's number has the layer in its top bits (past 2^63), which Bun's stat gives negative.
  ["xino", ",xino=on", true, "xino=on, the partial in its lower layer (inode number past 2^63)"],
] as const)
  testUnless(
    toolMissing("setpriv") ?? overlayUnusable(name, options, inLower),
    `--force does not take over a locked partial it cannot open on overlayfs: ${story}`,
    () => {
      withLockedPartial(join(directory, `merged-${name}`, "shared"), (partial, target) => {
        // Before: "taken over" (no /proc/locks line matched), the live receiver's file unlinked under it.
        expect(asNobody([process.execPath, forceScript(), partial, target])).toContain(
          `another receiver is writing ${partial} now`,
        );
      });
    },
  );

testUnless(
  notRoot ?? toolMissing("setpriv") ?? toolMissing("unshare"),
  "--force does not take over a partial it cannot open where /proc/locks cannot be read: it cannot tell",
  () => {
    const shared = join(directory, "no-proc-locks");
    mkdirSync(shared);
    withLockedPartial(shared, (partial, target) => {
      // /proc/locks unreadable to nobody (a private mount namespace, root's 0600 file over it), as in a
      // sandbox without /proc.
      const unreadable = join(directory, "locks");
      writeFileSync(unreadable, "", { mode: 0o600 });
      const hidden = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        `mount --bind ${unreadable} /proc/locks && exec "$@"`,
        "sh",
      ];
      // Before: "taken over", the live receiver's file unlinked.
      expect(asNobody([process.execPath, forceScript(), partial, target], hidden)).toContain(
        `it cannot be told whether a receiver is writing ${partial}`,
      );
    });
  },
);

// Without flock (ENOLCK: an NFS mount whose lock daemon is not running), a receiver writes FILE.partial
// unguarded, and an empty one is what a live receiver waiting for its sender has: a second receiver took
// it for one a killed receiver left, unlinked it and made its own, and the first then received its whole
// stream to fail at its keep ('FILE.partial was removed or replaced').
testUnless(
  straceUnusable(),
  "without flock (ENOLCK), an empty partial is not taken for a killed receiver's: refused without --force",
  () => {
    const target = join(directory, "lockless");
    const partial = `${target}.partial`;
    writeFileSync(partial, "");
    const before = lstatSync(partial).ino;
    const script = join(directory, "lockless.ts");
    writeFileSync(
      script,
      `import { openPartial } from ${JSON.stringify(join(REPO, "src/transfer/out-names.ts"))};\n` +
        "try { openPartial(process.argv[2], process.argv[3], false, '--out'); console.log('taken over'); }\n" +
        "catch (error) { console.log(error.message); }\n",
    );
    const refused = ["-f", "-qq", "-o", "/dev/null", "-e", "trace=flock", "-e", "inject=flock:error=ENOLCK"];
    const child = Bun.spawnSync(["strace", ...refused, process.execPath, script, partial, target]);
    expect(child.stderr.toString()).toBe("");
    // Before: "taken over", the first receiver's file unlinked under it.
    expect(child.stdout.toString()).toContain(
      `${partial} exists: its file system has no locks (flock: ENOLCK) to tell whether a receiver is writing it`,
    );
    expect(lstatSync(partial).ino).toBe(before);
  },
);
