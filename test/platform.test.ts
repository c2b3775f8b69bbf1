/**
 * Platforms ivsh does not run on. Its system calls are Linux x86-64's (the futex call is number 202 there,
 * accept(2) on arm64) and its one library is libc.so.6: on arm64 Linux the library loaded and a contended
 * lock failed with "futex FUTEX_WAIT: EBADF" (accept on a bogus descriptor), on macOS the import failed
 * with Bun's "Failed to open library". It must say at once which platform it needs. The platform is
 * pretended with a preload that sets process.arch / process.platform before ivsh loads.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { closeSync, fstatSync, openSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, REPO, type TestPaths, testPaths } from "./helpers/paths.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("platform");
});
afterAll(() => paths?.cleanup());

/** Runs `args` with bun, process[property] set to `value` before anything else loads. */
async function runAs(property: "arch" | "platform", value: string, args: string[]) {
  const preload = join(paths.dir, `as-${value}.ts`);
  writeFileSync(
    preload,
    `Object.defineProperty(process, ${JSON.stringify(property)}, { value: ${JSON.stringify(value)} });\n`,
  );
  const proc = Bun.spawn([process.execPath, "--preload", preload, ...args], {
    cwd: paths.dir,
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  const [exitCode, stdout, stderr] = await Promise.all([
    proc.exited,
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
  ]);
  return { exitCode, stdout, stderr, output: `${stdout}${stderr}` };
}

for (const [property, value, shown] of [
  ["arch", "arm64", "linux arm64"],
  ["platform", "darwin", "darwin x64"],
] as const)
  test(`on ${shown}, importing the library or running the CLI says it runs only on Linux x86-64`, async () => {
    const script = join(paths.dir, "app.ts");
    writeFileSync(
      script,
      `import { connect } from ${JSON.stringify(join(REPO, "src/guest/index.ts"))};\nconsole.log(typeof connect);\n`,
    );
    for (const args of [[script], [CLI, "--version"]]) {
      const ran = await runAs(property, value, args);
      expect(ran.exitCode, ran.output).not.toBe(0);
      expect(ran.stdout).toBe("");
      expect(ran.stderr).toContain(
        `Failed to load ivsh since it runs only on Linux x86-64, and this is ${shown}`,
      );
    }
  });

test("on Linux x86-64 the same preload changes nothing", async () => {
  const ran = await runAs("arch", "x64", [CLI, "--version"]);
  expect(ran.exitCode, ran.output).toBe(0);
});

// The CLI's errors are one line (src/cli.ts prints them): thrown as ivsh's modules loaded, this one came out
// as an uncaught exception, with Bun's listing of src/errors.ts around the throw and a stack, for any command.
test("on linux arm64, the CLI says it runs only on Linux x86-64 in one line, exit 1", async () => {
  for (const args of [
    [CLI, "--version"],
    [CLI, "status"],
  ]) {
    const ran = await runAs("arch", "arm64", args);
    expect(ran.exitCode, ran.output).toBe(1);
    expect(ran.stderr).toBe(
      "[ivsh] ERROR Failed to load ivsh since it runs only on Linux x86-64, and this is linux arm64 (its system calls are Linux x86-64's): run it on an x86-64 Linux host or VM\n",
    );
  }
});

/**
 * Under systemd (stderr the journal, JOURNAL_STREAM naming it) the log's lines carry their priority
 * (src/log.ts); this one, written before the log may load, reached the journal unmarked: at info.
 */
test("on linux arm64 under systemd (stderr the journal), that line is at priority err", async () => {
  const preload = join(paths.dir, "as-arm64-journal.ts");
  writeFileSync(preload, `Object.defineProperty(process, "arch", { value: "arm64" });\n`);
  const stderrPath = join(paths.dir, "journal-stderr");
  const fd = openSync(stderrPath, "w");
  try {
    const { dev, ino } = fstatSync(fd, { bigint: true });
    const proc = Bun.spawn([process.execPath, "--preload", preload, CLI, "--version"], {
      cwd: paths.dir,
      stdout: "ignore",
      stderr: fd,
      env: { ...process.env, NO_COLOR: "1", JOURNAL_STREAM: `${dev}:${ino}` },
    });
    expect(await proc.exited).toBe(1);
  } finally {
    closeSync(fd);
  }
  expect(readFileSync(stderrPath, "utf8")).toStartWith(
    "<3>ERROR Failed to load ivsh since it runs only on Linux x86-64, and this is linux arm64",
  );
});
