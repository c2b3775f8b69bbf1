/**
 * A region too large for the process's address-space limit (ulimit -v): its mmap fails with ENOMEM, which
 * reached the user raw, "mmap /dev/shm/ivsh: ENOMEM (Cannot allocate memory)", from the arbiter's start
 * and from every client alike, with no word of the limit or of what to do.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { socketAnswers } from "../src/host/listener.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, eventually, exitOrKill, spawnFixture } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { testWithTool } from "./helpers/tools.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("address-space-limit");
});
afterAll(() => paths?.cleanup());

/** Room for Bun and its JIT (about 3 GiB), not for a 4 GiB region as well. */
const LIMIT_BYTES = 5_000_000_000;
const LIMIT_KIB = Math.floor(LIMIT_BYTES / 1024);

// On disk, sparse: a /dev/shm of 64 MiB (Docker's) has no room for a 4 GiB region.
const region = () => join(paths.dir, "big.region");
const socket = () => join(paths.dir, "big.sock");

async function ivshUnderLimit(args: string[]) {
  const proc = tracked(
    Bun.spawn(["prlimit", `--as=${LIMIT_BYTES}`, process.execPath, CLI, ...args], {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", IVSH_SOCKET: socket(), IVSH_REGION: region() },
    }),
  );
  const stderr = new Response(proc.stderr).text();
  return { code: await exitOrKill(proc, EXIT_BOUND_MS), stderr: await stderr };
}

const NO_ROOM = "this process's address space has no room for its 4.00 GiB";
const LIMIT_SAID = `(ENOMEM, ulimit -v ${LIMIT_KIB} KiB): raise the limit (ulimit -v unlimited)`;

testWithTool(
  "prlimit",
  "ivsh host under ulimit -v too small for its region: refused naming the limit",
  async () => {
    const args = ["host", "--region", region(), "--socket", socket(), "--size", "4GiB"];
    const { code, stderr } = await ivshUnderLimit(args);
    expect(stderr).toContain(NO_ROOM);
    expect(stderr).toContain(LIMIT_SAID);
    expect(code).toBe(1);
    expect(existsSync(region())).toBe(false);
  },
);

testWithTool(
  "prlimit",
  "a client under ulimit -v too small for the region it maps: told so naming the limit",
  async () => {
    const host = ["host", "--exit-with-parent", "--region", region(), "--socket", socket(), "--size", "4GiB"];
    const arbiter = tracked(
      Bun.spawn([process.execPath, CLI, ...host], { stdout: "ignore", stderr: "ignore" }),
    );
    try {
      await eventually(() => socketAnswers(socket()), 15_000, "the arbiter listening");
      const { code, stderr } = await ivshUnderLimit([
        "guest",
        "recv",
        "--out",
        "/dev/null",
        "--timeout",
        "1s",
      ]);
      expect(stderr).toContain(NO_ROOM);
      expect(stderr).toContain(LIMIT_SAID);
      expect(code).toBe(1);
    } finally {
      arbiter.kill("SIGTERM");
      await exitOrKill(arbiter, EXIT_BOUND_MS);
    }
  },
);

// ENOMEM also means the kernel's count of mappings is used up (vm.max_map_count), the limit far away:
// "raise ulimit -v" would change nothing there.
testWithTool(
  "prlimit",
  "an mmap refused for vm.max_map_count under a far-off ulimit -v: the limit not blamed",
  async () => {
    const fixture = spawnFixture("many-mappings", { socket: "" });
    expect(await fixture.exit()).toBe(0);
    await fixture.events.finished;
    const failed = fixture.events.lines.map((line) => JSON.parse(line)).find((e) => e.event === "failed");
    expect(failed?.message).toContain("too many mappings for vm.max_map_count");
    expect(failed?.message).not.toContain("ulimit -v");
  },
  60_000,
);
