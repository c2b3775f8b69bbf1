/**
 * `ivsh guest recv --out FILE` renames its verified copy into place without fsync, as cp, curl -o and rsync
 * (without --fsync) do: a crash of the machine (not of the process) before writeback may leave FILE, named as
 * verified, empty or short (ext4 allocates a new file's blocks at writeback; its rename-over safeguard,
 * auto_da_alloc, does not cover a new name). An fsync of 2 GiB written to this machine's ext4 took 0.86 s
 * against the 1.3 s of the whole transfer, so it is asked for: --fsync makes the copy durable before it
 * takes FILE's name, and the name durable after (its directory fsynced). Seen with strace on the receiver.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, exitOrKill } from "./helpers/processes.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";
import { clientEnv, guest, guestUnderStrace, randomFile, sameBytes } from "./helpers/transfer.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
beforeAll(async () => {
  paths = testPaths("recv-fsync");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/** The receiver's fsync and rename calls, in order, as strace printed them (fds as its numbers). */
function durabilityCalls(log: string): string[] {
  return readFileSync(log, "utf8")
    .split("\n")
    .filter((line) => /\b(fsync|fdatasync|rename|renameat2?)\(/.test(line))
    .map((line) => line.replace(/^\d+\s+/, ""));
}

testUnless(
  straceUnusable(),
  "recv --fsync: the copy fsynced before it takes FILE's name, then FILE's directory",
  async () => {
    const source = join(paths.dir, "source");
    const data = await randomFile(source, 3 << 20);
    const out = join(paths.dir, "received");
    const log = join(paths.dir, "recv.strace");
    const receiver = guestUnderStrace(
      paths,
      log,
      ["-e", "trace=fsync,fdatasync,rename,renameat,renameat2,openat", "-y"],
      ["recv", "-q", "--channel", "durable", "--out", out, "--fsync"],
    );
    const sender = guest(paths, ["send", "-q", "--channel", "durable", source]);
    try {
      const code = await exitOrKill(receiver.proc, 60_000);
      expect({ code, stderr: await receiver.stderr }).toEqual({ code: 0, stderr: "" });
      expect(await sender.exit()).toBe(0);
    } finally {
      sender.proc.kill();
    }
    expect(sameBytes(new Uint8Array(readFileSync(out)), data)).toBe(true);
    const calls = durabilityCalls(log).filter((call) => !call.startsWith("openat"));
    const copySynced = calls.findIndex(
      (call) => call.startsWith("fsync(") && call.includes(`${out}.partial>`),
    );
    const renamed = calls.findIndex((call) => call.startsWith("rename") && call.includes(`"${out}"`));
    const directorySynced = calls.findIndex(
      (call) => call.startsWith("fsync(") && call.includes(`<${paths.dir}>`),
    );
    expect({
      copySynced: copySynced >= 0,
      renamed: renamed > copySynced,
      directorySynced: directorySynced > renamed,
    }).toEqual({
      copySynced: true,
      renamed: true,
      directorySynced: true,
    });
  },
  90_000,
);

testUnless(
  straceUnusable(),
  "recv without --fsync leaves the writeback to the kernel, as cp does",
  async () => {
    const source = join(paths.dir, "plain-source");
    await randomFile(source, 1 << 20);
    const log = join(paths.dir, "plain.strace");
    const receiver = guestUnderStrace(
      paths,
      log,
      ["-e", "trace=fsync,fdatasync"],
      ["recv", "-q", "--channel", "plain", "--out", join(paths.dir, "plain-received")],
    );
    const sender = guest(paths, ["send", "-q", "--channel", "plain", source]);
    expect(await sender.exit()).toBe(0);
    expect(await receiver.proc.exited).toBe(0);
    expect(durabilityCalls(log)).toEqual([]);
  },
  90_000,
);

/**
 * A receive under strace whose fsync calls on `failing` (strace -P: a path, or the directory whose fd is
 * fsynced) fail with `errno` (EIO unless told), with --force over an existing FILE: what the receiver
 * says, and FILE after.
 */
async function fsyncFailing(name: string, failing: (out: string) => string, errno = "EIO") {
  const source = join(paths.dir, `${name}-source`);
  await randomFile(source, 1 << 20);
  const out = join(paths.dir, `${name}-received`);
  writeFileSync(out, "the user's file\n", { mode: 0o640 });
  const receiver = guestUnderStrace(
    paths,
    join(paths.dir, `${name}.strace`),
    ["-P", failing(out), "-e", "trace=fsync", "-e", `inject=fsync:error=${errno}`],
    ["recv", "-q", "--channel", name, "--out", out, "--force", "--fsync"],
  );
  const sender = guest(paths, ["send", "-q", "--channel", name, source]);
  try {
    const code = await exitOrKill(receiver.proc, 60_000);
    await sender.exit();
    return {
      code,
      stderr: await receiver.stderr,
      out,
      kept: readFileSync(out, "utf8"),
      mode: statSync(out).mode & 0o777,
    };
  } finally {
    sender.proc.kill();
  }
}

testUnless(
  straceUnusable(),
  "recv --fsync whose copy's fsync fails leaves FILE as it was and says what to do",
  async () => {
    const { code, stderr, out, kept, mode } = await fsyncFailing("copy-eio", (out) => `${out}.partial`);
    expect({ code, kept, mode }).toEqual({ code: 1, kept: "the user's file\n", mode: 0o640 });
    expect(stderr).toContain(
      `Failed to write ${out}.partial to disk since fsync said EIO (its disk could not store it: see the ` +
        "kernel's log (dmesg), then receive again, to another disk if it fails again)",
    );
  },
  90_000,
);

testUnless(
  straceUnusable(),
  "recv --fsync whose directory's fsync fails takes the keep back: FILE as it was, the copy in FILE.partial",
  async () => {
    const { code, stderr, out, kept, mode } = await fsyncFailing("name-eio", () => paths.dir);
    expect({ code, kept, mode }).toEqual({ code: 1, kept: "the user's file\n", mode: 0o640 });
    expect(stderr).toContain(
      `Failed to write ${out}'s name to disk since its directory's fsync said EIO (its disk could not store ` +
        "it: see the kernel's log (dmesg), then receive again, to another disk if it fails again)",
    );
    expect(stderr).toContain(`${out}.partial is the received copy, whole and verified`);
  },
  90_000,
);

// Mutation round 29 (src/transfer/durable.ts): a full file system's hint (ENOSPC, or a quota's EDQUOT) was not
// exercised.
testUnless(
  straceUnusable(),
  "recv --fsync whose copy's fsync finds the file system or quota full says to free space",
  async () => {
    for (const errno of ["ENOSPC", "EDQUOT"]) {
      const failed = await fsyncFailing(`copy-${errno}`, (out) => `${out}.partial`, errno);
      expect({ code: failed.code, kept: failed.kept }).toEqual({ code: 1, kept: "the user's file\n" });
      expect(failed.stderr).toContain(
        `Failed to write ${failed.out}.partial to disk since fsync said ${errno} (its file system is full: free ` +
          "space, then receive again)",
      );
    }
  },
  90_000,
);

testUnless(
  straceUnusable(),
  "recv --fsync through a symbolic link whose file's directory fsync fails names the link given",
  async () => {
    const source = join(paths.dir, "link-source");
    await randomFile(source, 1 << 20);
    // The file the link leads to is in a directory of its own: the one whose fsync fails.
    const landing = join(paths.dir, "landing");
    mkdirSync(landing);
    writeFileSync(join(landing, "received"), "the user's file\n");
    const link = join(paths.dir, "link-received");
    symlinkSync(join(landing, "received"), link);
    const receiver = guestUnderStrace(
      paths,
      join(paths.dir, "link.strace"),
      ["-P", landing, "-e", "trace=fsync", "-e", "inject=fsync:error=EIO"],
      ["recv", "-q", "--channel", "link", "--out", link, "--force", "--fsync"],
    );
    const sender = guest(paths, ["send", "-q", "--channel", "link", source]);
    try {
      expect(await exitOrKill(receiver.proc, 60_000)).toBe(1);
      await sender.exit();
    } finally {
      sender.proc.kill();
    }
    // Before (mutation round 29, the landing's path in its place): "Failed to write …/landing/received's name".
    expect(await receiver.stderr).toContain(
      `Failed to write ${link}'s name to disk since its directory's fsync said EIO`,
    );
    expect(readFileSync(link, "utf8")).toBe("the user's file\n");
  },
  90_000,
);

/**
 * A receiver given `--out OUT --fsync` where OUT takes no name exits 2 at once, saying WHAT is not a file
 * ivsh names (its --timeout only bounds a receiver that wrongly waits for a sender).
 */
async function expectFsyncRefused(out: string, what: string, channel: string): Promise<void> {
  const receiver = guest(paths, [
    "recv",
    "-q",
    "--channel",
    channel,
    "--out",
    out,
    "--fsync",
    "--timeout",
    "1s",
  ]);
  const code = await exitOrKill(receiver.proc, 30_000);
  expect({ out, code, stderr: await receiver.stderr }).toEqual({
    out,
    code: 2,
    stderr: expect.stringContaining(
      `Failed to use --fsync with --out ${out} since ${what} is not a file ivsh names`,
    ),
  });
}

/**
 * --fsync makes the verified copy durable before it takes FILE's name: with --out - (or a descriptor's
 * name, or a FIFO, a device) there is no name to take, and the flag did nothing and said nothing; a user
 * who piped into a file believed it on disk. Refused as a usage error, before anything is waited for.
 */
test("recv --fsync with an output that takes no name (stdout, /dev/stdout, /dev/null) is a usage error", async () => {
  for (const [out, what] of [
    ["-", "stdout"],
    ["/dev/stdout", "/dev/stdout"],
    ["/dev/null", "/dev/null"],
  ] as const) {
    await expectFsyncRefused(out, what, "fsync-nowhere");
  }
}, 60_000);

/**
 * The same refusal where the name given is no descriptor's: a FIFO (which recv otherwise waits for a reader
 * of), a symbolic link to /dev/null, one to /dev/fd/1. The case above covers none of them; a regular file
 * beside them is still received, --fsync and all.
 */
test("recv --fsync into a FIFO or through a link to a device or a descriptor is a usage error; a file is not", async () => {
  const fifo = join(paths.dir, "fsync-fifo");
  expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
  const toNull = join(paths.dir, "fsync-to-null");
  symlinkSync("/dev/null", toNull);
  const toStdout = join(paths.dir, "fsync-to-fd1");
  symlinkSync("/dev/fd/1", toStdout);
  for (const out of [fifo, toNull, toStdout]) await expectFsyncRefused(out, out, "fsync-unnamed");
  const source = join(paths.dir, "fsync-plain-source");
  writeFileSync(source, "kept on disk\n");
  const out = join(paths.dir, "fsync-plain");
  const receiver = guest(paths, ["recv", "-q", "--channel", "fsync-plain", "--out", out, "--fsync"]);
  const sender = guest(paths, ["send", "-q", "--channel", "fsync-plain", source]);
  try {
    expect({ code: await exitOrKill(receiver.proc, 60_000), stderr: await receiver.stderr }).toEqual({
      code: 0,
      stderr: "",
    });
    expect(await sender.exit()).toBe(0);
  } finally {
    sender.proc.kill();
  }
  expect(readFileSync(out, "utf8")).toBe("kept on disk\n");
}, 90_000);

/**
 * What --fsync does not refuse: a directory (or a link to one), or a path through a regular file (ENOTDIR),
 * is no output the open can write, and it says so in its own words, with --fsync as without (the refusal
 * above would blame --fsync for a name that no flag makes writable).
 */
test("recv --fsync into a directory or through a file: the open's own refusal, as without --fsync", async () => {
  const directory = join(paths.dir, "fsync-dir");
  mkdirSync(directory);
  const file = join(paths.dir, "fsync-file");
  writeFileSync(file, "a file\n");
  const linked = join(paths.dir, "fsync-link-to-dir"); // the open follows it, as the check must
  symlinkSync(directory, linked);
  for (const [out, reason] of [
    [directory, `${directory} is a directory`],
    [linked, `${linked} is a directory`],
    [`${file}/x`, `a part of ${file}/x before its last '/' is not a directory (ENOTDIR)`],
  ] as const)
    for (const flags of [["--fsync"], []]) {
      const receiver = guest(paths, ["recv", "-q", "--channel", "fsync-open", "--out", out, ...flags]);
      const code = await exitOrKill(receiver.proc, 30_000);
      expect({ out, flags, code, stderr: await receiver.stderr }).toEqual({
        out,
        flags,
        code: 1,
        stderr: `[ivsh] ERROR Failed to write ${out} since ${reason} (--out names the file to write, in a directory that exists)\n`,
      });
    }
}, 60_000);

/**
 * The case the refusal was made for: stdout redirected into a file (`> FILE`), where /dev/stdout (or
 * /dev/fd/1) is that regular file, so only its being a descriptor's name tells there is no name to take.
 */
test("recv --fsync --out /dev/stdout with stdout redirected into a file is a usage error", async () => {
  const redirected = join(paths.dir, "fsync-redirected");
  for (const out of ["/dev/stdout", "/dev/fd/1"]) {
    writeFileSync(redirected, "");
    const args = ["recv", "-q", "--channel", "fsync-redirect", "--out", out, "--fsync", "--timeout", "1s"];
    const proc = Bun.spawn([process.execPath, CLI, "guest", ...args], {
      env: { ...process.env, ...clientEnv(paths) },
      stdout: Bun.file(redirected),
      stderr: "pipe",
    });
    const code = await exitOrKill(proc, 30_000);
    expect({ out, code, stderr: await new Response(proc.stderr).text() }).toEqual({
      out,
      code: 2,
      stderr: expect.stringContaining(
        `Failed to use --fsync with --out ${out} since ${out} is not a file ivsh names`,
      ),
    });
  }
}, 60_000);
