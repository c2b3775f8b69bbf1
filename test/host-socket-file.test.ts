/**
 * Mutation round 15 on src/host/socket-file.ts: a running arbiter's socket files are mode 0660 and leave no
 * private name beside them; a start where /proc/net/unix cannot be read removes no leftover and still
 * serves; a private name in use is drawn again (up to 5 times), any other bind failure is said at once for
 * the operator; a file that replaced the socket under the same inode number is not the socket; a path
 * taken by another start's socket is refused naming the process listening there.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import {
  closeSync,
  linkSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  utimesSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { isIvshError } from "../src/errors.ts";
import { bindDatagramSocket } from "../src/ffi/fd-passing.ts";
import { closeFd } from "../src/ffi/index.ts";
import { handoverPath } from "../src/host/handover.ts";
import { socketAnswers } from "../src/host/listener.ts";
import { bindPrivately, fileIdentity, publishSocket, removeIfStill } from "../src/host/socket-file.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually } from "./helpers/processes.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("mut15-socket-file");
});
afterAll(() => paths?.cleanup());

const privateNames = (socket: string) =>
  readdirSync(dirname(socket)).filter((name) => name.startsWith(`${basename(socket)}.~`));

test("a running arbiter's socket and hand-over socket are mode 0660, and no private name is left beside them", async () => {
  const arbiter = await ArbiterProcess.start(paths);
  try {
    const modes = [paths.socket, handoverPath(paths.socket)].map((path) => lstatSync(path).mode & 0o777);
    expect(modes).toEqual([0o660, 0o660]);
    expect(privateNames(paths.socket)).toEqual([]);
  } finally {
    await arbiter.stop();
  }
}, 60_000);

const unshareMissing = toolMissing("unshare") ?? toolMissing("mount");

testUnless(
  unshareMissing ?? (process.getuid?.() === 0 ? undefined : "only root can mount over /proc/PID/net"),
  "a start that cannot read /proc/net/unix removes no leftover private name, and serves",
  async () => {
    const socket = join(paths.dir, "no-proc-net", "arbiter.sock");
    const empty = join(paths.dir, "empty");
    mkdirSync(dirname(socket), { recursive: true });
    mkdirSync(empty, { recursive: true });
    // A leftover of a start killed between its bind and its link, an hour old: removed where it can be
    // told unbound, which it cannot be here.
    const leftover = `${socket}.~abc123`;
    closeFd(bindDatagramSocket(leftover));
    const hourAgo = Date.now() / 1000 - 3600;
    utimesSync(leftover, hourAgo, hourAgo);
    const region = join(paths.shmDir, "no-proc-net");
    // The arbiter's own /proc/PID/net hidden (exec keeps the pid whose directory was covered).
    const host = Bun.spawn(
      [
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        `mount --bind ${empty} /proc/$$/net && exec "$0" "$@"`,
        process.execPath,
        CLI,
        "host",
        "--region",
        region,
        "--socket",
        socket,
        "--state",
        `${region}.state`,
        "--size",
        "1MiB",
      ],
      { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1" } },
    );
    const said = new Response(host.stderr).text();
    try {
      await eventually(
        async () => host.exitCode !== null || (await socketAnswers(socket)),
        30_000,
        "the arbiter listening or ended",
      );
      expect({ exitCode: host.exitCode, said: host.exitCode === null ? "" : await said }).toEqual({
        exitCode: null,
        said: "",
      });
      expect(privateNames(socket)).toEqual([basename(leftover)]);
    } finally {
      host.kill("SIGTERM");
      await host.exited;
    }
  },
  60_000,
);

describe("bindPrivately", () => {
  const socket = "/run/ivsh-mut15/arbiter.sock";
  const failing = (code: string) => Object.assign(new Error(`bind: ${code}`), { code });

  test("a private name in use is drawn again: the third draw binds, each name its own", () => {
    const tried: string[] = [];
    const [bound, privatePath] = bindPrivately(socket, (path) => {
      tried.push(path);
      if (tried.length < 3) throw failing("EADDRINUSE");
      return "bound";
    });
    expect(bound).toBe("bound");
    expect(privatePath).toBe(tried[2]!);
    expect(new Set(tried).size).toBe(3);
    for (const path of tried) expect(path).toMatch(/^\/run\/ivsh-mut15\/arbiter\.sock\.~[0-9a-f]{6}$/);
  });

  test("names in use 5 times: given up, said for --socket; another errno: said at once, not drawn again", () => {
    for (const [code, draws, said] of [
      ["EADDRINUSE", 5, /making a socket file in \/run\/ivsh-mut15 failed \(EADDRINUSE\)/],
      ["EPERM", 1, /this user \(uid \d+\) may not make a socket file in \/run\/ivsh-mut15 \(EPERM\)/],
    ] as const) {
      let calls = 0;
      let thrown: unknown;
      try {
        bindPrivately(socket, () => {
          calls++;
          throw failing(code);
        });
      } catch (error) {
        thrown = error;
      }
      expect({ code, calls }).toEqual({ code, calls: draws });
      expect(isIvshError(thrown) && thrown.message).toMatch(said);
      expect(String((thrown as Error).message)).toContain(`Failed to listen on ${socket}`);
    }
  });
});

/** Whether the file system of `directory` gives a new file the inode number of one just removed (ext4 does). */
function reusesInodes(directory: string): boolean {
  const probe = join(directory, "inode-probe");
  closeSync(openSync(probe, "w"));
  const { ino } = lstatSync(probe);
  rmSync(probe);
  closeSync(openSync(probe, "w"));
  const again = lstatSync(probe).ino;
  rmSync(probe);
  return again === ino;
}

/** Why /tmp cannot show an inode number given again, if it cannot (a tmpfs /tmp numbers files on). */
const inodesNotReused = (() => {
  const directory = mkdtempSync("/tmp/ivsh-mut15-inodes-");
  try {
    return reusesInodes(directory)
      ? undefined
      : "/tmp's file system does not give a new file a removed one's inode number";
  } finally {
    rmSync(directory, { recursive: true, force: true });
  }
})();

testUnless(
  inodesNotReused,
  "a file made at the socket's path under the socket's inode number is not the socket: left alone",
  () => {
    const path = join(paths.dir, "reused.sock");
    let [identity, same] = [fileIdentity(path), false];
    // Another start's socket, made at once: the inode number comes back (another process's file may
    // take it first: tried again), its birth time does not.
    for (let attempt = 0; attempt < 20 && !same; attempt++) {
      rmSync(path, { force: true });
      closeFd(bindDatagramSocket(path));
      identity = fileIdentity(path);
      const { ino } = lstatSync(path);
      rmSync(path);
      closeFd(bindDatagramSocket(path));
      same = lstatSync(path).ino === ino;
    }
    expect(same).toBe(true);
    removeIfStill(path, identity);
    expect(lstatSync(path, { throwIfNoEntry: false })?.isSocket()).toBe(true);
    removeIfStill(path, fileIdentity(path));
    expect(lstatSync(path, { throwIfNoEntry: false })).toBeUndefined();
  },
);

test("a path taken between the start's look and its link: refused, naming the process listening there", async () => {
  const path = join(paths.dir, "taken.sock");
  // Another start's socket: listening at its private name, linked to the path just before this one.
  const theirs = `${path}.~0f0f0f`;
  const listener = Bun.listen({ unix: theirs, socket: { data() {} } });
  const mine = `${path}.~1e1e1e`;
  try {
    linkSync(theirs, path);
    closeFd(bindDatagramSocket(mine));
    let thrown: unknown;
    try {
      publishSocket(mine, path);
    } catch (error) {
      thrown = error;
    }
    expect(isIvshError(thrown) && thrown.code).toBe("ArbiterRunning");
    expect((thrown as Error).message).toContain(`another arbiter (pid ${process.pid}, `);
    expect(lstatSync(path).ino).toBe(lstatSync(theirs).ino);
  } finally {
    listener.stop(true);
    for (const name of [path, theirs, mine]) rmSync(name, { force: true });
  }
});
