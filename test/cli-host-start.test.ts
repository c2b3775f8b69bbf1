/**
 * `ivsh host`'s start refused (another arbiter there, a region or state file it cannot use, a socket it
 * cannot make), what a failed start leaves behind, and --exit-with-parent.
 */
import { describe, expect, test } from "bun:test";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { CLI } from "./helpers/paths.ts";
import { runCli } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("cli-host-start");

describe("ivsh CLI", () => {
  test("a second arbiter on a live socket is refused", async () => {
    const result = await runCli([
      "host",
      "--region",
      suite.region,
      "--socket",
      suite.socket,
      "--size",
      "16MiB",
    ]);
    expect(result.exitCode).toBe(1);
    // The pid to stop, found by the socket's listener in /proc.
    expect(result.stderr).toMatch(
      new RegExp(`another arbiter \\(pid ${suite.arbiter.pid}, \\S+\\) is serving it`),
    );
  });

  test("a second arbiter on the same region (another socket) is refused", async () => {
    const result = await runCli([
      "host",
      "--region",
      suite.region,
      "--socket",
      `${suite.dir}/other.sock`,
      "--size",
      "16MiB",
    ]);
    expect(result.exitCode).toBe(1);
    // The pid to stop, found by the region file's lock in /proc/locks.
    expect(result.stderr).toMatch(
      new RegExp(`another arbiter \\(pid ${suite.arbiter.pid}, \\S+\\) is serving this region`),
    );
  });

  // Found by a trial: a second `ivsh host --socket OTHER` on the same region, with the same state journal
  // (the default, REGION.state), was told the journal's arbiter runs "(its region file or socket may have
  // been removed under it)", though nothing was: it serves that region.
  test("a second arbiter on the same region and its state journal (another socket) is told the region is served", async () => {
    const result = await runCli([
      "host",
      ...["--region", suite.region, "--state", suite.state],
      ...["--socket", `${suite.dir}/other.sock`, "--size", "16MiB"],
    ]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).not.toContain("removed under it");
    expect(result.stderr).toMatch(
      new RegExp(
        `another arbiter \\(pid ${suite.arbiter.pid}, \\S+\\) is serving this region, with its state journal`,
      ),
    );
  });

  // Found by a trial: a second `ivsh host` on another region given the running arbiter's --state was
  // told the state "belongs to the region ..." and to "remove the state file to discard its allocations":
  // the live arbiter's own journal, removed under it.
  test("a second arbiter on another region with the running arbiter's --state is told that arbiter keeps it", async () => {
    const result = await runCli([
      "host",
      ...["--region", `${suite.shmDir}/another-region`, "--state", suite.state],
      ...["--socket", `${suite.dir}/another.sock`, "--size", "16MiB"],
    ]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).not.toContain("remove the state file");
    expect(result.stderr).toMatch(
      new RegExp(
        `another arbiter \\(pid ${suite.arbiter.pid}, \\S+\\) is running with its state journal there, for the region ${suite.region}:`,
      ),
    );
    expect(existsSync(`${suite.shmDir}/another-region`)).toBe(false);
  });

  test("a region file of another size is refused, not resized", async () => {
    const region = `${suite.shmDir}/sized`;
    await Bun.write(region, new Uint8Array(1 << 20));
    const result = await runCli([
      "host",
      "--region",
      region,
      "--socket",
      `${suite.dir}/other.sock`,
      "--size",
      "32MiB",
    ]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(/already 1.00 MiB \(pass --size 1MiB,/);
    // Both sizes in one unit (it said "as a 33554432-byte region since the file is already 1.00 MiB").
    expect(result.stderr).toContain("as a 32.0 MiB region since the file is already 1.00 MiB");
  });

  test("a state file that cannot be read (a directory, another user's): named, why, what to do; nothing made", async () => {
    const region = `${suite.shmDir}/unread-state`;
    const host = (state: string) => [
      "host",
      "--region",
      region,
      "--socket",
      `${suite.dir}/unread.sock`,
      "--size",
      "1MiB",
      "--state",
      state,
    ];
    const directory = await runCli(host(suite.dir));
    expect(directory.exitCode).toBe(1);
    expect(directory.stderr).toContain(`Failed to read the state file ${suite.dir} since it is a directory`);
    expect(directory.stderr).toContain("pass --state FILE");
    expect(directory.stderr).not.toContain("    at ");
    expect(existsSync(region)).toBe(false);
    expect(existsSync(`${suite.dir}/unread.sock`)).toBe(false);
    // Unreadable by this user: the default REGION.state is 0600, so another user's arbiter meets it.
    if (process.getuid?.() !== 0 || !Bun.which("setpriv")) return;
    const shared = mkdtempSync("/tmp/ivsh-cli-state-");
    try {
      chmodSync(shared, 0o755);
      const state = `${shared}/root.state`;
      writeFileSync(state, '{"t":"begin"}\n', { mode: 0o600 });
      // A socket directory nobody may write to, so that the state is what is refused.
      const sockets = `${shared}/sockets`;
      mkdirSync(sockets, { mode: 0o777 });
      chmodSync(sockets, 0o777);
      const asNobody = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", process.execPath];
      const args = host(state).map((arg) => (arg.endsWith("unread.sock") ? `${sockets}/unread.sock` : arg));
      const proc = Bun.spawn([...asNobody, CLI, ...args], { stderr: "pipe", stdout: "ignore" });
      const [exitCode, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
      expect(exitCode, stderr).toBe(1);
      // Another user's journal is not taken over (src/host/ownership.ts), before it is even read.
      expect(stderr).toContain(`Failed to serve the state in ${state} since it belongs to root (uid 0)`);
      expect(stderr).toContain("run `ivsh host` as its owner");
      expect(stderr).not.toContain("    at ");
      expect(readFileSync(state, "utf8")).toBe('{"t":"begin"}\n');
      expect(readdirSync(shared).sort()).toEqual(["root.state", "sockets"]);
      expect(readdirSync(sockets)).toEqual([]);
      expect(existsSync(region)).toBe(false);
    } finally {
      rmSync(shared, { recursive: true, force: true });
    }
  });

  test("a --socket in a missing directory or too long for its .handover: named, the limit, nothing made", async () => {
    const region = `${suite.shmDir}/socket-checked`;
    const made = () => [region, `${region}.state`, `${region}.wake`].filter((path) => existsSync(path));
    const host = (socket: string) =>
      runCli(["host", "--region", region, "--size", "1MiB", "--socket", socket]);
    const missing = await host(`${suite.dir}/nodir/x.sock`);
    expect(missing.exitCode).toBe(1);
    expect(missing.stderr).toContain(
      `Failed to listen on --socket ${suite.dir}/nodir/x.sock since its directory ${suite.dir}/nodir does not exist`,
    );
    expect(missing.stderr).not.toContain(".handover");
    expect(made()).toEqual([]);
    // 103 bytes: a socket path may have 107, but the arbiter's SOCKET.handover needs 9 of them.
    const long = `${suite.dir}/${"s".repeat(103 - suite.dir.length - 6)}.sock`;
    expect(long.length).toBe(103);
    const tooLong = await host(long);
    expect(tooLong.exitCode).toBe(1);
    expect(tooLong.stderr).toContain(`Failed to listen on --socket ${long} since`);
    expect(tooLong.stderr).toContain("--socket may be at most 98 bytes");
    expect(made()).toEqual([]);
  });

  test("a start that cannot listen removes the region and state it created, and keeps ones that were there", async () => {
    const region = `${suite.shmDir}/unlistened`;
    const socket = `${suite.dir}/unlistened.sock`;
    // Not a socket where the hand-over socket goes: only binding finds out, after the region is made.
    mkdirSync(`${socket}.handover`);
    const host = () => runCli(["host", "--region", region, "--size", "1MiB", "--socket", socket]);
    const fresh = await host();
    expect(fresh.exitCode).toBe(1);
    expect(fresh.stderr).toContain("a file that is not a socket is in the way");
    expect([region, `${region}.state`, `${region}.wake`].filter((path) => existsSync(path))).toEqual([]);
    await Bun.write(region, new Uint8Array(1 << 20));
    await Bun.write(`${region}.wake`, "");
    const existing = await host();
    expect(existing.exitCode).toBe(1);
    expect(statSync(region).size).toBe(1 << 20);
    expect(existsSync(`${region}.wake`)).toBe(true);
    expect(existsSync(`${region}.state`)).toBe(false);
    // An empty region file an operator made (its group and mode set for the VMs) was there too: kept.
    rmSync(region);
    await Bun.write(region, "");
    const empty = await host();
    expect(empty.exitCode).toBe(1);
    expect(existsSync(region)).toBe(true);
  });

  test("--exit-with-parent: an arbiter whose parent is killed -9 stops", async () => {
    const socket = `${suite.dir}/orphan.sock`;
    const host = `'${process.execPath}' '${CLI}' host --region ${suite.shmDir}/orphan --size 4MiB --socket ${socket} --exit-with-parent`;
    const shell = Bun.spawn(["sh", "-c", `${host} 2>/dev/null & echo $!; sleep 60`], { stdout: "pipe" });
    const reader = shell.stdout.getReader();
    const pid = Number(new TextDecoder().decode((await reader.read()).value).trim());
    for (let tries = 0; tries < 200 && !existsSync(socket); tries++) await Bun.sleep(25);
    expect(existsSync(socket)).toBe(true);
    shell.kill("SIGKILL");
    let alive = true;
    for (let tries = 0; tries < 200 && alive; tries++) {
      await Bun.sleep(25);
      alive = running(pid);
    }
    expect(alive).toBe(false);
  });
});

/** A process that exited but is not reaped yet (a zombie) counts as gone. */
function running(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z");
  } catch {
    return false;
  }
}
