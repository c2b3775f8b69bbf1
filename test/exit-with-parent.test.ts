/**
 * `ivsh host --exit-with-parent` whose parent died before the arbiter's first line ran: the kernel's
 * parent-death signal (asked for then) never comes, and the parent it has is init or a subreaper. Only the
 * pid its spawner named in IVSH_PARENT_PID (as the library's and the tests' spawners do) tells it the
 * parent is gone: it must stop at once, creating nothing, instead of serving on with nobody to stop it.
 */
import { afterEach, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";

let paths: TestPaths | undefined;
let orphan: number | undefined;

afterEach(() => {
  if (orphan !== undefined && running(orphan)) process.kill(orphan, "SIGKILL");
  orphan = undefined;
  paths?.cleanup();
  paths = undefined;
});

/** A process that exited but is not reaped yet (a zombie) counts as gone. */
function running(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z");
  } catch {
    return false;
  }
}

/** `ivsh host --exit-with-parent` on `of`'s paths with a small region: its command line's words. */
function hostCommand(of: TestPaths): string[] {
  const where = ["--region", of.region, "--socket", of.socket, "--state", of.state];
  return [process.execPath, CLI, "host", "--exit-with-parent", ...where, "--size", "4MiB"];
}

test("a parent that exits before the arbiter starts: the arbiter stops at once and creates nothing", async () => {
  paths = testPaths("orphan-start");
  const log = join(paths.dir, "host.log");
  const host = hostCommand(paths)
    .map((word) => `'${word}'`)
    .join(" ");
  // The subshell becomes the arbiter (exec), a child of sh, which exits before the arbiter's runtime
  // has even begun to load (the sleep): the arbiter's first line runs with init or a subreaper as parent.
  const script = `(sleep 0.5; IVSH_PARENT_PID=$$ exec ${host} 2>'${log}') & echo $!`;
  const shell = Bun.spawn(["sh", "-c", script], { stdout: "pipe" });
  orphan = Number((await new Response(shell.stdout).text()).trim());
  expect(await shell.exited).toBe(0);
  // Generous: the arbiter's runtime loads in well under a second even on a loaded machine.
  for (let tries = 0; tries < 600 && running(orphan); tries++) await Bun.sleep(50);
  const served = existsSync(paths.socket);
  expect({ running: running(orphan), served }).toEqual({ running: false, served: false });
  expect(readFileSync(log, "utf8")).toMatch(
    /its parent \(pid \d+\) exited before it started: nothing was created/,
  );
  expect(existsSync(paths.region)).toBe(false);
});

test("IVSH_PARENT_PID naming a live process that is not the parent (a wrapper in between): refused, naming both", async () => {
  paths = testPaths("wrapped-start");
  // `timeout` forks and runs the arbiter as its child: its parent is timeout, not this process.
  const wrapped = Bun.spawn(["timeout", "60", ...hostCommand(paths)], {
    env: { ...process.env, NO_COLOR: "1", IVSH_PARENT_PID: String(process.pid) },
    stderr: "pipe",
  });
  const stderr = await new Response(wrapped.stderr).text();
  expect(await wrapped.exited).toBe(2);
  expect(stderr).toContain(`Failed to follow the process IVSH_PARENT_PID names (pid ${process.pid})`);
  expect(stderr).toMatch(/it is alive but not this process's parent \(pid \d+\)/);
  expect(existsSync(paths.region)).toBe(false);
});

test("IVSH_PARENT_PID naming the arbiter itself (a shell's $$ before exec): refused, saying so and what to name", async () => {
  paths = testPaths("self-named");
  const host = hostCommand(paths)
    .map((word) => `'${word}'`)
    .join(" ");
  // The wrapper-script mistake: $$ is the shell's pid, which exec hands to the arbiter.
  const shell = Bun.spawn(["sh", "-c", `IVSH_PARENT_PID=$$ exec ${host}`], {
    env: { ...process.env, NO_COLOR: "1" },
    stderr: "pipe",
  });
  const stderr = await new Response(shell.stderr).text();
  expect(await shell.exited).toBe(2);
  expect(stderr).toContain(`Failed to follow the process IVSH_PARENT_PID names (pid ${shell.pid})`);
  expect(stderr).toContain("it is this process itself");
  expect(stderr).not.toContain("something runs in between");
  expect(existsSync(paths.region)).toBe(false);
});

test("IVSH_PARENT_PID of 0 names no process: refused as such, not taken for a parent that is gone", async () => {
  paths = testPaths("pid-zero");
  const host = Bun.spawn(hostCommand(paths), {
    env: { ...process.env, NO_COLOR: "1", IVSH_PARENT_PID: "0" },
    stderr: "pipe",
  });
  const stderr = await new Response(host.stderr).text();
  expect(await host.exited).toBe(2);
  expect(stderr).toContain("Failed to use IVSH_PARENT_PID='0' since it is not a process id");
  expect(existsSync(paths.region)).toBe(false);
});

test("IVSH_PARENT_PID naming a process that exited but is not reaped (a zombie): its parent is gone, not a wrapper", async () => {
  paths = testPaths("zombie-named");
  const log = join(paths.dir, "host.log");
  // `sleep 0` exits at once; its parent execs a sleep that never reaps it: a zombie while that sleep runs.
  const keeper = Bun.spawn(["sh", "-c", "sleep 0 & echo $!; exec sleep 60"], { stdout: "pipe" });
  try {
    const reader = keeper.stdout.getReader();
    const zombie = Number(new TextDecoder().decode((await reader.read()).value).trim());
    reader.releaseLock();
    for (let tries = 0; tries < 600 && running(zombie); tries++) await Bun.sleep(50);
    expect(readFileSync(`/proc/${zombie}/stat`, "utf8").split(") ")[1]?.[0]).toBe("Z");
    const host = Bun.spawn(hostCommand(paths), {
      env: { ...process.env, NO_COLOR: "1", IVSH_PARENT_PID: String(zombie) },
      stderr: Bun.file(log),
    });
    await host.exited;
    const said = readFileSync(log, "utf8");
    expect(said).not.toContain("something runs in between");
    expect(said).toMatch(/its parent \(pid \d+\) exited before it started: nothing was created/);
    expect(existsSync(paths.region)).toBe(false);
  } finally {
    keeper.kill("SIGKILL");
    await keeper.exited;
  }
});
