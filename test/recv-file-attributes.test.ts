/**
 * The attributes of a file `ivsh guest recv --out FILE` makes, against those `cp` or the shell's `>` give:
 * a new file takes the mode the user's umask allows (0666 less the umask), and one that replaces a file
 * (--force) keeps that file's owner and group as well as its mode, as `cp` over an existing file does.
 */
import { expect, test } from "bun:test";
import {
  chownSync,
  existsSync,
  lstatSync,
  readFileSync,
  statSync,
  symlinkSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { CLI } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, eventually, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";
import { clientEnv, guest, randomFile, sameBytes } from "./helpers/transfer.ts";

const suite = sharedArbiter("recv-file-attributes");

/** Receives a small file into `output` (`recvArgs` added), both processes started under `umask`. */
async function receive(name: string, output: string, umask: number, recvArgs: string[] = []) {
  const input = join(suite.dir, `${name}.in`);
  await randomFile(input, 5000);
  // The umask is inherited when a process is spawned: set for the two spawns, then put back.
  const before = process.umask(umask);
  let ends: ReturnType<typeof guest>[];
  try {
    ends = [
      guest(suite.paths, ["recv", "-q", "--channel", name, "--out", output, ...recvArgs]),
      guest(suite.paths, ["send", "-q", input, "--channel", name]),
    ];
  } finally {
    process.umask(before);
  }
  expect([await ends[0]!.exit(), await ends[1]!.exit()]).toEqual([0, 0]);
}

const modeOf = (path: string) => (statSync(path).mode & 0o777).toString(8);

for (const [umask, mode] of [
  [0o002, "664"],
  [0o022, "644"],
  [0o077, "600"],
] as const)
  test(`a new FILE under umask ${umask.toString(8).padStart(3, "0")} is mode ${mode}, as '>' makes it`, async () => {
    const output = join(suite.dir, `fresh-${mode}.out`);
    await receive(`fresh-${mode}`, output, umask);
    expect(modeOf(output)).toBe(mode);
  });

const notRoot = process.getuid?.() === 0 ? undefined : "only root may give a file to another user";

testUnless(
  notRoot,
  "--force over another user's file: the copy keeps its owner, group and mode, as cp does",
  async () => {
    const output = join(suite.dir, "theirs.out");
    writeFileSync(output, "the other user's old contents", { mode: 0o640 });
    chownSync(output, 65534, 65534);
    await receive("theirs", output, 0o022, ["--force"]);
    const kept = statSync(output);
    expect([kept.uid, kept.gid, modeOf(output)]).toEqual([65534, 65534, "640"]);
  },
);

// Whoever may write FILE's directory may swap FILE.partial for a link while root receives: the owner and
// mode were given by name (chown and chmod follow a link), to the file the link names, which the rename
// then made FILE. They now go through the receiver's descriptor, and a swapped name is not kept.
testUnless(
  notRoot,
  "--force as root, FILE.partial swapped for a link meanwhile: the linked file keeps its owner and mode",
  async () => {
    const output = join(suite.dir, "swapped.out");
    writeFileSync(output, "the other user's old contents", { mode: 0o644 });
    chownSync(output, 65534, 65534);
    const victim = join(suite.dir, "root-only");
    writeFileSync(victim, "root's secret", { mode: 0o600 });
    const input = join(suite.dir, "swapped.in");
    await randomFile(input, 5000);
    const receiver = guest(suite.paths, ["recv", "-q", "--channel", "swapped", "--out", output, "--force"]);
    await eventually(
      async () => existsSync(`${output}.partial`),
      20_000,
      "the receiver creating FILE.partial",
    );
    unlinkSync(`${output}.partial`);
    symlinkSync(victim, `${output}.partial`);
    const sender = guest(suite.paths, ["send", "-q", input, "--channel", "swapped"]);
    // Before: 0 and 0, root-only given to nobody with mode 644, and FILE the link to it.
    expect(await receiver.exit()).toBe(1);
    expect(await receiver.stderr).toContain(`${output}.partial was removed or replaced during the transfer`);
    await sender.exit();
    const kept = statSync(victim);
    expect([kept.uid, kept.gid, modeOf(victim)]).toEqual([0, 0, "600"]);
    expect(lstatSync(output).isSymbolicLink()).toBe(false);
    expect(readFileSync(output, "utf8")).toBe("the other user's old contents");
  },
);

// A file system that keeps no mode, or lets only a file's owner set one (vfat mounted umask=000 gives every
// file to root; NFS), refuses the chmod with EPERM: the verified copy then lost its name ('setting aside
// FILE ... failed: this user may not change DIR/'), though a refused chown was already let go. Now the
// copy keeps the mode it was made with (0600 while it replaces a file: private), as it keeps its owner.
testUnless(
  straceUnusable(),
  "--force where the file system refuses the replaced file's mode (EPERM): the copy is kept, private",
  async () => {
    const output = join(suite.dir, "modeless.out");
    writeFileSync(output, "old contents", { mode: 0o644 });
    const input = join(suite.dir, "modeless.in");
    const data = await randomFile(input, 5000);
    const recv = ["guest", "recv", "-q", "--channel", "modeless", "--out", output, "--force"];
    const refused = ["-f", "-qq", "-o", "/dev/null", "-e", "trace=fchmod", "-e", "inject=fchmod:error=EPERM"];
    const receiver = tracked(
      Bun.spawn(["strace", ...refused, process.execPath, CLI, ...recv], {
        stdout: "ignore",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1", ...clientEnv(suite.paths) },
      }),
    );
    const stderr = new Response(receiver.stderr).text();
    const sender = guest(suite.paths, ["send", "-q", input, "--channel", "modeless"]);
    // Before: 1, 'setting aside ... failed: this user may not change ...', the copy left as FILE.partial.
    expect([await exitOrKill(receiver, EXIT_BOUND_MS), await sender.exit()]).toEqual([0, 0]);
    expect(await stderr).toBe("");
    expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
    expect(modeOf(output)).toBe("600");
    expect(existsSync(`${output}.partial`)).toBe(false);
  },
);

// A file system without flock (an NFS mount whose lock daemon is not running says ENOLCK) had every
// `recv --out` there fail, before its sender was waited for, with a bare 'flock FILE.partial: ENOLCK (No
// locks available)', an empty FILE.partial left (and its descriptor). The receiver now writes it unguarded
// there, as before FILE.partial was locked: its keep still finds a name another receiver took over.
testUnless(
  straceUnusable(),
  "a file system without flock (ENOLCK): FILE is received all the same",
  async () => {
    const output = join(suite.dir, "lockless.out");
    const input = join(suite.dir, "lockless.in");
    const data = await randomFile(input, 5000);
    const recv = ["guest", "recv", "-q", "--channel", "lockless", "--out", output];
    const refused = ["-f", "-qq", "-o", "/dev/null", "-e", "trace=flock", "-e", "inject=flock:error=ENOLCK"];
    const receiver = tracked(
      Bun.spawn(["strace", ...refused, process.execPath, CLI, ...recv], {
        stdout: "ignore",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1", ...clientEnv(suite.paths) },
      }),
    );
    const stderr = new Response(receiver.stderr).text();
    const sender = guest(suite.paths, ["send", "-q", input, "--channel", "lockless", "--timeout", "20s"]);
    // Before: 1 ('flock ...: ENOLCK'), and the sender waited for a receiver until its --timeout.
    expect(await exitOrKill(receiver, EXIT_BOUND_MS)).toBe(0);
    expect(await stderr).toBe("");
    expect(await sender.exit()).toBe(0);
    expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
    expect(existsSync(`${output}.partial`)).toBe(false);
  },
);

// The check that FILE.partial is still the receiver's copy (just before the owner, mode and rename) left a
// window until the rename, which moves whatever has the name: FILE.partial swapped in it (by anyone who may
// write the directory) became FILE, the receiver said 'received ... verified' and exited 0, and the file
// it replaced, kept aside, was then removed. Now FILE is checked to be the copy once it has the name: the
// receiver fails, and the replaced file stays aside, named. strace stops root after its fchown, in that window.
testUnless(
  notRoot ?? straceUnusable(),
  "--force as root, FILE.partial swapped after the check, before the rename: no success, the old file kept",
  async () => {
    const output = join(suite.dir, "late-swap.out");
    const partial = `${output}.partial`;
    writeFileSync(output, "the other user's old contents", { mode: 0o644 });
    chownSync(output, 65534, 65534);
    const input = join(suite.dir, "late-swap.in");
    await randomFile(input, 5000);
    const log = join(suite.dir, "late-swap.strace");
    const stop = ["-f", "-qq", "-o", log, "-P", partial, "-e", "trace=fchown"];
    stop.push("-e", "inject=fchown:signal=SIGSTOP:when=1");
    const recv = ["guest", "recv", "-q", "--channel", "late-swap", "--out", output, "--force"];
    const receiver = tracked(
      Bun.spawn(["strace", ...stop, process.execPath, CLI, ...recv], {
        stdout: "ignore",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1", ...clientEnv(suite.paths) },
      }),
    );
    const stderr = new Response(receiver.stderr).text();
    const tracee = () => Number(readFileSync(`/proc/${receiver.pid}/task/${receiver.pid}/children`, "utf8"));
    try {
      const sender = guest(suite.paths, ["send", "-q", input, "--channel", "late-swap"]);
      const stopped = () => existsSync(log) && readFileSync(log, "utf8").includes("stopped by SIGSTOP");
      await eventually(async () => stopped(), 20_000, "the receiver's fchown");
      unlinkSync(partial);
      writeFileSync(partial, "someone else's file");
      process.kill(tracee(), "SIGCONT");
      // Before: 0, FILE 'someone else's file', the old contents removed.
      expect(await exitOrKill(receiver, EXIT_BOUND_MS)).toBe(1);
      expect(await stderr).toContain(`${partial} was removed or replaced during the transfer`);
      await sender.exit();
      // Kept aside, and named: what has FILE's name now is the swapper's doing, not this receiver's copy.
      expect(await stderr).toContain(`the file it was to replace is ${output}.ivsh-replaced`);
      expect(readFileSync(`${output}.ivsh-replaced`, "utf8")).toBe("the other user's old contents");
    } finally {
      if (receiver.exitCode === null) process.kill(tracee(), "SIGKILL");
    }
  },
);
