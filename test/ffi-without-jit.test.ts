/**
 * bun:ffi needs Bun's JIT compiler, which is off when its reservation of executable memory does not fit
 * the address-space limit (ulimit -v of 2 GiB, common on shared machines) or BUN_JSC_useJIT=0 says so.
 * Every command then crashed as src/ffi/libc.ts loaded: Bun's listing of the throw, "TypeError: bun:ffi
 * requires the JIT", and no word of the limit. It now fails with the CLI's one error line, naming it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { CLI, REPO, type TestPaths, testPaths } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { testWithTool } from "./helpers/tools.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("ffi-without-jit");
});
afterAll(() => paths?.cleanup());

async function ivsh(command: string[], args: string[], env: Record<string, string> = {}, cli = CLI) {
  const proc = tracked(
    Bun.spawn([...command, process.execPath, cli, ...args], {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...env },
    }),
  );
  const stderr = new Response(proc.stderr).text();
  return { code: await exitOrKill(proc, EXIT_BOUND_MS), stderr: await stderr };
}

const OFF = "Failed to load ivsh since Bun's JIT compiler is off in this process";

testWithTool("prlimit", "under ulimit -v of 1.5 GB: one error line naming the limit, exit 1", async () => {
  for (const args of [["--version"], ["guest", "recv", "--out", "/dev/null", "--timeout", "1s"]]) {
    const { code, stderr } = await ivsh(["prlimit", "--as=1500000000"], args);
    expect(stderr).toStartWith(`[ivsh] ERROR ${OFF}`);
    expect(stderr).toContain("address-space limit (ulimit -v 1464843 KiB)");
    expect(stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(code).toBe(1);
  }
});

test("with BUN_JSC_useJIT=0: one error line naming the setting, exit 1", async () => {
  const { code, stderr } = await ivsh([], ["status"], { BUN_JSC_useJIT: "0" });
  expect(stderr).toStartWith(`[ivsh] ERROR ${OFF}`);
  expect(stderr).toContain("BUN_JSC_useJIT=0");
  expect(stderr.trimEnd().split("\n")).toHaveLength(1);
  expect(code).toBe(1);
});

// The setting is what turns the JIT off, whatever address-space limit there is: raising one would not help.
testWithTool(
  "prlimit",
  "with BUN_JSC_useJIT=0 under a generous ulimit -v (64 GiB): the setting named, not the limit",
  async () => {
    const { code, stderr } = await ivsh(["prlimit", "--as=68719476736"], ["--version"], {
      BUN_JSC_useJIT: "0",
    });
    expect(stderr).toStartWith(`[ivsh] ERROR ${OFF}`);
    expect(stderr).toContain("BUN_JSC_useJIT=0 turns it off: unset it");
    expect(stderr).not.toContain("ulimit -v");
    expect(code).toBe(1);
  },
);

// As scripts/build.ts bundles it (split in chunks): the chunk with src/ffi/libc.ts is evaluated before any
// module of the CLI's own, so a check in the CLI's first module came too late there.
testWithTool(
  "prlimit",
  "the CLI bundled in chunks, under ulimit -v of 1.5 GB: the same one line",
  async () => {
    const outdir = join(paths.dir, "bundle");
    const built = Bun.spawnSync(
      [
        process.execPath,
        "build",
        "--splitting",
        "--format=esm",
        "--target=bun",
        "src/cli.ts",
        "--outdir",
        outdir,
      ],
      { cwd: REPO, stdout: "pipe", stderr: "pipe" },
    );
    expect(built.exitCode, `${built.stderr}`).toBe(0);
    const { code, stderr } = await ivsh(
      ["prlimit", "--as=1500000000"],
      ["--version"],
      {},
      join(outdir, "cli.js"),
    );
    expect(stderr).toStartWith(`[ivsh] ERROR ${OFF}`);
    expect(stderr.trimEnd().split("\n")).toHaveLength(1);
    expect(code).toBe(1);
  },
);
