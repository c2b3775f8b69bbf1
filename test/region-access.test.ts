/**
 * A region this user may not open is refused with what its mode and owner say to do. Run as another user
 * (`nobody`, through setpriv): as root every open succeeds.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { groupName, userName } from "../src/accounts.ts";
import { FAKE_PCI_ADDRESS, fakeSysfs } from "./helpers/backends.ts";
import { CLI, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

const NOBODY = 65534;
const notRoot = process.getuid?.() === 0 ? undefined : "only root can run a command as another user here";
const reason = notRoot ?? toolMissing("setpriv");
let dir: string;

beforeAll(() => {
  dir = mkdtempSync("/dev/shm/ivsh-access-");
  chmodSync(dir, 0o755);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function asNobody(args: string[]): Promise<{ exitCode: number; stderr: string }> {
  const run = Bun.spawn(
    ["setpriv", `--reuid=${NOBODY}`, `--regid=${NOBODY}`, "--clear-groups", process.execPath, CLI, ...args],
    { env: { ...process.env, HOME: "/tmp" }, stdout: "ignore", stderr: "pipe" },
  );
  const [exitCode, stderr] = await Promise.all([run.exited, new Response(run.stderr).text()]);
  return { exitCode, stderr };
}

/** `ivsh host` on a 1 MiB region, ended with the test. */
function hostArgs(region: string, socket: string): string[] {
  return ["host", "--region", region, "--size", "1MiB", "--socket", socket, "--exit-with-parent"];
}

/** `ivsh guest recv` as nobody, mapping what `where` names; no arbiter listens (it fails before asking). */
function receiveAsNobody(where: string[]) {
  return asNobody(["guest", "recv", "--out", "/dev/null", ...where, "--socket", join(dir, "none.sock")]);
}

/**
 * Regions nobody may map, each refused with its mode and owner and the fix that fits this user: not the
 * owner, not in the group (run as the owner); in a group that lacks write (chmod g+rw); outside a group
 * that has it (join the group).
 */
const refusals: { name: string; mode: number; group: number; says: string[] }[] = [
  {
    name: "another user's private region",
    mode: 0o600,
    group: 0,
    says: [`it is mode 0600, owner ${userName(0)},`, "run as its owner or a member of its group"],
  },
  {
    name: "a region whose group, this user's, may only read",
    mode: 0o640,
    group: NOBODY,
    says: [
      `it is mode 0640, owner ${userName(0)}, group ${groupName(NOBODY)}`,
      "this user is in its group: give the group read and write permission",
    ],
  },
  {
    name: "a region whose group may read and write, for a user outside that group",
    mode: 0o660,
    group: 0,
    // One form of an owner everywhere: this said "owner uid 0" where others say "owner root (uid 0)".
    says: [`it is mode 0660, owner ${userName(0)}, group ${groupName(0)} (join its group, ${groupName(0)} (`],
  },
];

for (const { name, mode, group, says } of refusals)
  testUnless(reason, `${name}: refused with its mode, its owner and what to do`, async () => {
    const region = join(dir, name.replaceAll(/[^a-z]+/g, "-"));
    writeFileSync(region, Buffer.alloc(1 << 20));
    chmodSync(region, mode);
    chownSync(region, 0, group);
    const { exitCode, stderr } = await receiveAsNobody(["--region", region]);
    expect(exitCode).toBe(1);
    expect(stderr).toContain(
      `Failed to map the region ${region} since this user (uid ${NOBODY}) may not read and write it`,
    );
    for (const text of says) expect(stderr).toContain(text);
  });

testUnless(
  reason,
  "an arbiter may not create its region where this user may not write: the directory is named",
  async () => {
    const locked = join(dir, "locked");
    mkdirSync(locked, { mode: 0o755 });
    const sockets = mkdtempSync("/tmp/ivsh-access-");
    chmodSync(sockets, 0o777);
    try {
      const region = join(locked, "region");
      const socket = join(sockets, "host.sock");
      const { exitCode, stderr } = await asNobody(hostArgs(region, socket));
      expect(exitCode).toBe(1);
      expect(stderr).toContain(`this user (uid ${NOBODY}) may not create files in ${locked}`);
    } finally {
      rmSync(sockets, { recursive: true, force: true });
    }
  },
);

testUnless(
  reason,
  "a state file this user cannot see is an error, and the region is left as it was",
  async () => {
    const region = join(dir, "kept-region");
    const marker = Buffer.alloc(1 << 20, 0x5a);
    writeFileSync(region, marker);
    chmodSync(region, 0o666);
    const hidden = join(dir, "hidden");
    mkdirSync(hidden, { mode: 0o700 }); // root's, and not searchable by nobody
    writeFileSync(join(hidden, "state"), "");
    const sockets = mkdtempSync("/tmp/ivsh-access-");
    chmodSync(sockets, 0o777);
    try {
      const args = hostArgs(region, join(sockets, "host.sock"));
      const { exitCode, stderr } = await asNobody([...args, "--state", join(hidden, "state")]);
      expect(exitCode).toBe(1);
      expect(stderr).toContain(
        `Failed to read the state file ${join(hidden, "state")} since this user may not`,
      );
      // Not taken for a missing state file: the region holding its allocations is not formatted anew.
      expect(Buffer.compare(readFileSync(region), marker)).toBe(0);
    } finally {
      rmSync(sockets, { recursive: true, force: true });
    }
  },
);

testUnless(
  reason,
  "a guest's PCI resource file that only root may open: the refusal says to run as root or add a udev rule",
  async () => {
    const bar = join(dir, "bar2");
    writeFileSync(bar, Buffer.alloc(1 << 20));
    chmodSync(bar, 0o600); // as the kernel makes resource2
    const sysfs = fakeSysfs(join(dir, "sysfs"), bar);
    const resource2 = join(sysfs, "bus/pci/devices", FAKE_PCI_ADDRESS, "resource2");
    const { exitCode, stderr } = await receiveAsNobody(["--sysfs-root", sysfs]);
    expect(exitCode).toBe(1);
    // Refused before any probe or mapping happens, as a permission problem rather than a raw EACCES.
    expect(stderr).toContain(
      `Failed to map the region ${resource2} since this user (uid ${NOBODY}) may not read and write it`,
    );
    expect(stderr).toContain("run as root, or have a udev rule");
    expect(stderr).not.toContain("EACCES");
  },
);

test("a region the arbiter creates is mode 0660 whatever the umask, as its socket is", async () => {
  const sockets = mkdtempSync("/tmp/ivsh-access-");
  const region = join(dir, "made-under-umask-022");
  const socket = join(sockets, "host.sock");
  const host = Bun.spawn(
    ["sh", "-c", 'umask 022 && exec "$@"', "sh", process.execPath, CLI, ...hostArgs(region, socket)],
    { stdout: "ignore", stderr: "pipe" },
  );
  try {
    for (let tries = 0; !existsSync(socket) && tries < 400; tries++) await Bun.sleep(50);
    expect((statSync(region).mode & 0o777).toString(8)).toBe("660");
    expect((statSync(socket).mode & 0o777).toString(8)).toBe("660");
  } finally {
    host.kill("SIGTERM");
    await host.exited;
    rmSync(sockets, { recursive: true, force: true });
  }
});

// An operator trial: a socket in a directory this user may not enter gave a raw stack trace (EACCES from
// stat), and a socket of another group was met with "join that group (the service's is kvm)".
testUnless(
  reason,
  "a socket in a directory this user may not enter: one line naming the directory",
  async () => {
    const hidden = mkdtempSync("/tmp/ivsh-access-hidden-"); // 0700, root's
    try {
      const { exitCode, stderr } = await asNobody(["status", "--socket", join(hidden, "arbiter.sock")]);
      expect(exitCode).toBe(1);
      expect(stderr).toContain(`this user may not enter ${hidden} (mode 0700, group root (gid 0))`);
      expect(stderr).not.toMatch(/^\s+at /m);
    } finally {
      rmSync(hidden, { recursive: true, force: true });
    }
  },
);

testUnless(reason, "a socket of another group: the refusal names its mode, owner and group", async () => {
  const paths = testPaths("access-socket");
  chmodSync(paths.dir, 0o755);
  const arbiter = await ArbiterProcess.start(paths);
  try {
    const { exitCode, stderr } = await asNobody(["status", "--socket", paths.socket]);
    expect(exitCode).toBe(1);
    expect(stderr).toContain(
      "the socket is mode 0660, owner root (uid 0), group root (gid 0): join that group (usermod -aG), or ask its owner",
    );
  } finally {
    await arbiter.stop();
    paths.cleanup();
  }
});
