/**
 * A socket path starting with "@" (an abstract socket's name to systemd, socat or ss) was taken three
 * ways: Bun's sockets made it a file of that name in the current directory, ivsh's own datagram sockets an
 * abstract name. `ivsh host --socket @x` failed with "Failed to chmod @x.~123abc since no such file or
 * directory (ENOENT)", and a client given it (--socket, IVSH_SOCKET, connect({ socket })) said no arbiter
 * was there. It is refused now, host and clients alike, saying why and what to write instead (./@x).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";

const ABSTRACT =
  /'@ivsh-abstract-test' starts with '@', which names a socket in the abstract namespace.*\(\.\/@ivsh-abstract-test for one called/;

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("abstract-name");
});
afterAll(() => paths?.cleanup());

/** `ivsh ARGS` run in the test's directory: its exit code and stderr. */
async function ivsh(args: string[], env: Record<string, string> = {}) {
  const proc = tracked(
    Bun.spawn([process.execPath, CLI, ...args], {
      cwd: paths.dir,
      stdin: "pipe",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...env },
    }),
  );
  const stderr = new Response(proc.stderr).text();
  const code = await exitOrKill(proc, 25_000);
  return { code, stderr: await stderr };
}

test("ivsh host --socket @name is refused, saying why, and makes nothing", async () => {
  const region = join(paths.shmDir, "host-region");
  const { code, stderr } = await ivsh([
    "host",
    "--exit-with-parent",
    "--socket",
    "@ivsh-abstract-test",
    "--region",
    region,
    "--size",
    "4MiB",
  ]);
  expect(stderr).toMatch(ABSTRACT);
  expect(code).toBe(2);
  expect(readdirSync(paths.dir).filter((name) => name.startsWith("@"))).toEqual([]);
  expect(existsSync(region)).toBe(false);
});

test("a client's --socket @name and IVSH_SOCKET=@name are refused the same way", async () => {
  const flag = await ivsh(["status", "--socket", "@ivsh-abstract-test"]);
  expect(flag.stderr).toMatch(ABSTRACT);
  expect(flag.code).toBe(2);
  const variable = await ivsh(["status"], { IVSH_SOCKET: "@ivsh-abstract-test" });
  expect(variable.stderr).toMatch(ABSTRACT);
  expect(variable.code).toBe(2);
});

// IVSH_SOCKET=@x exited 2 for host and bridge (a usage error, as the flag) but 1 for status and guest send/recv,
// and a malformed IVSH_CONNECT 1 too: the variables are the flags' defaults, refused the same way.
test("a bad IVSH_SOCKET or IVSH_CONNECT is a usage error (exit 2) naming the variable, for every client", async () => {
  for (const args of [["status"], ["guest", "send", "/etc/hostname"], ["guest", "recv", "--out", "out"]]) {
    const socket = await ivsh(args, { IVSH_SOCKET: "@ivsh-abstract-test" });
    expect(socket.stderr).toMatch(ABSTRACT);
    expect(socket.stderr).toContain("Failed to use IVSH_SOCKET @ivsh-abstract-test since");
    expect(socket.code).toBe(2);
    const address = await ivsh(args, { IVSH_SOCKET: "", IVSH_CONNECT: "nonsense" });
    expect(address.stderr).toContain("Failed to use IVSH_CONNECT 'nonsense' since it is not HOST:PORT");
    expect(address.code).toBe(2);
  }
  expect(existsSync(join(paths.dir, "out"))).toBe(false);
});

test("ivsh bridge --socket @name is refused the same way", async () => {
  const { code, stderr } = await ivsh(["bridge", "--vm", "vm1", "--socket", "@ivsh-abstract-test"]);
  expect(stderr).toMatch(ABSTRACT);
  expect(code).toBe(2);
});

test("connect({ socket: '@name' }) is refused the same way", async () => {
  await expectRejection(
    connect({ socket: "@ivsh-abstract-test", region: paths.region, connectTimeoutMs: 0 }),
    "InvalidArgument",
    ABSTRACT,
  );
});
