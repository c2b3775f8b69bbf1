/**
 * `ivsh host` runs without Bun's GC timer (src/host/gc-timer.ts): it starts its program again in place,
 * with the switch in its environment, before it claims anything. The pid stays the one its parent
 * started (systemd, the tests, `--exit-with-parent` all rely on it), a user's own setting is kept, and a
 * stop signal during the restart still stops it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { socketAnswers } from "../src/host/listener.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { eventually } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("host-gc-timer");
});
afterAll(() => paths?.cleanup());

function startHost(label: string, gcSwitch: string | undefined, launcher: string[] = []) {
  const socket = join(paths.dir, `${label}.sock`);
  const env: Record<string, string | undefined> = { ...process.env, NO_COLOR: "1" };
  env.BUN_GC_TIMER_DISABLE = gcSwitch;
  const host = tracked(
    Bun.spawn(
      [
        ...[...launcher, process.execPath, CLI, "host", "--exit-with-parent"],
        ...["--region", join(paths.shmDir, `${label}.region`), "--socket", socket],
        ...["--state", join(paths.dir, `${label}.state`), "--size", "1MiB", "--block-size", "64KiB"],
      ],
      { stdout: "ignore", stderr: "pipe", env },
    ),
  );
  return { host, socket };
}

function environmentOf(pid: number): Map<string, string> {
  const entries = readFileSync(`/proc/${pid}/environ`, "utf8").split("\0").filter(Boolean);
  return new Map(
    entries.map((entry) => [entry.slice(0, entry.indexOf("=")), entry.slice(entry.indexOf("=") + 1)]),
  );
}

async function stopped(
  host: ReturnType<typeof startHost>["host"],
): Promise<{ code: number; stderr: string }> {
  host.kill("SIGTERM");
  const [code, stderr] = await Promise.all([host.exited, new Response(host.stderr).text()]);
  return { code, stderr };
}

test("the arbiter restarts in place without Bun's GC timer and serves and stops as before", async () => {
  const { host, socket } = startHost("restarted", undefined);
  await eventually(() => socketAnswers(socket), 15_000, "the arbiter listening");
  // The process its parent started, now running with the switch set.
  expect(environmentOf(host.pid).get("BUN_GC_TIMER_DISABLE")).toBe("1");
  const { code, stderr } = await stopped(host);
  expect(code).toBe(0);
  expect(stderr.match(/arbiter serving/g)).toHaveLength(1);
  expect(stderr).toContain("stopped on SIGTERM");
});

test("a switch the user set either way is kept, and the arbiter does not restart", async () => {
  const { host, socket } = startHost("chosen", "0");
  await eventually(() => socketAnswers(socket), 15_000, "the arbiter listening");
  expect(environmentOf(host.pid).get("BUN_GC_TIMER_DISABLE")).toBe("0");
  expect((await stopped(host)).code).toBe(0);
});

test("a stop signal at any moment of the start, the restart included, ends the arbiter", async () => {
  // Staggered over the first tens of milliseconds: before, during and after the restart.
  const starts = Array.from({ length: 12 }, (_, index) => ({
    delayMs: index * 4,
    ...startHost(`early-${index}`, undefined),
  }));
  await Promise.all(
    starts.map(async ({ host, delayMs }) => {
      await Bun.sleep(delayMs);
      host.kill("SIGTERM");
      const gone = await Promise.race([host.exited.then(() => true), Bun.sleep(30_000).then(() => false)]);
      expect(gone).toBe(true);
      // Killed by the signal's default action, or stopped by the handler that holds it.
      expect(host.exitCode === 0 || host.signalCode === "SIGTERM").toBe(true);
    }),
  );
});

/** The dynamic loader, which runs a program from a file system mounted noexec (`ld.so PROGRAM ARGS`). */
const loader = ["/lib64/ld-linux-x86-64.so.2", "/lib/ld-linux-aarch64.so.1"].find((path) => existsSync(path));

testUnless(
  loader ? undefined : "no dynamic loader at a known path",
  "started through the dynamic loader (a noexec mount), the arbiter restarts the same way and serves",
  async () => {
    // The program was the loader, not ivsh: started again as `ld.so host ...`, the loader looked for a
    // program named "host" and the arbiter never started (exit 127).
    const { host, socket } = startHost("loader", undefined, [loader!]);
    const listening = await Promise.race([
      eventually(() => socketAnswers(socket), 15_000, "the arbiter listening").then(() => true),
      host.exited.then(() => false),
    ]);
    const restarted = listening && environmentOf(host.pid).get("BUN_GC_TIMER_DISABLE") === "1";
    const { code, stderr } = await stopped(host);
    expect({ listening, restarted, code }).toEqual({ listening: true, restarted: true, code: 0 });
    expect(stderr).toContain("stopped on SIGTERM");
  },
  30_000,
);
