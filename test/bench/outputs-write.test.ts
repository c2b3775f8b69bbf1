/**
 * How `ivsh bench` writes an output whole (output.ts's writeWhole, through a temporary file beside it): a
 * failed write is said as itself, and any name the checks let through can be written.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { writeJson } from "../../src/bench/output.ts";
import { REPO } from "../helpers/paths.ts";
import { cannotMount, withSmallTmpfs } from "../helpers/small-fs.ts";
import { testUnless, toolMissing } from "../helpers/tools.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync("/tmp/ivsh-bench-test-write-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A directory that turned read-only during the run: the write failed (EROFS), and so did the removal of
 * its temporary file, whose error was thrown instead ("EROFS: read-only file system, rm …/.x.tmp"), naming
 * neither the output nor the write.
 */
testUnless(
  cannotMount,
  "a --json whose directory turned read-only: the write's failure is said",
  async () => {
    await withSmallTmpfs(join(dir, "read-only"), "1m", async (at) => {
      const remounted = Bun.spawnSync(["mount", "-o", "remount,ro", at]);
      expect(remounted.exitCode).toBe(0);
      const path = join(at, "results.json");
      await expect(writeJson(path, { run: 1 })).rejects.toThrow(
        `Failed to write ${path} since read-only file system (EROFS)`,
      );
    });
  },
);

/**
 * A name of 245–255 bytes is one the file system takes, and the checks passed it; the temporary file
 * beside it, `.NAME.PID.tmp`, was longer than 255 bytes, and the JSON was lost after the whole run
 * (ENAMETOOLONG).
 */
test("a --json named with the file system's full 255 bytes is written", async () => {
  const at = mkdtempSync(join(dir, "long-"));
  const path = join(at, `${"r".repeat(250)}.json`);
  await writeJson(path, { run: 2 });
  expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ run: 2 });
  expect(readdirSync(at)).toEqual([`${"r".repeat(250)}.json`]);
});

/**
 * Two runs in two containers (pid namespaces) writing into one shared directory have the same pid (1, here);
 * the temporary file, named by pid and a per-process count (`.ivsh-PID-N.tmp`), was then the same file for
 * both: one run's JSON was renamed into the other's output, and the other's rename failed (ENOENT), its
 * JSON lost after the run.
 */
testUnless(
  process.getuid?.() === 0 ? toolMissing("unshare") : "only root can make a pid namespace here",
  "two runs of the same pid in two pid namespaces write into one directory, each its own output",
  async () => {
    const at = mkdtempSync(join(dir, "namespaces-"));
    const script = join(at, "writer.ts");
    // Each round begins when both have ended the one before: their counts of temporary files go in step.
    writeFileSync(
      script,
      `import { existsSync, readFileSync, writeFileSync } from "node:fs";\n` +
        `import { writeJson } from ${JSON.stringify(join(REPO, "src/bench/output.ts"))};\n` +
        "const [at, tag, other] = process.argv.slice(2);\n" +
        "const pad = tag.repeat(1 << 19);\n" +
        "let wrong = 0;\n" +
        "for (let round = 0; round < 80; round++) {\n" +
        "  writeFileSync(at + '/' + tag + '.' + round, '');\n" +
        "  while (!existsSync(at + '/' + other + '.' + round)) await Bun.sleep(1);\n" +
        "  try {\n" +
        "    await writeJson(at + '/' + tag + '.json', { tag, round, pad });\n" +
        "    const read = JSON.parse(readFileSync(at + '/' + tag + '.json', 'utf8'));\n" +
        "    if (read.tag !== tag || read.round !== round) wrong++;\n" +
        "  } catch { wrong++; }\n" +
        "}\n" +
        "console.log('pid ' + process.pid + ', wrong ' + wrong);\n",
    );
    const writers = [
      ["a", "b"],
      ["b", "a"],
    ].map((pair) =>
      Bun.spawn(["unshare", "--pid", "--fork", process.execPath, script, at, ...pair], {
        stdout: "pipe",
        stderr: "pipe",
      }),
    );
    const said = await Promise.all(
      writers.map(async (child) => {
        await child.exited;
        return `${await new Response(child.stdout).text()}${await new Response(child.stderr).text()}`.trim();
      }),
    );
    expect(said).toEqual(["pid 1, wrong 0", "pid 1, wrong 0"]);
    expect(readdirSync(at).filter((name) => name.endsWith(".tmp"))).toEqual([]);
  },
  60_000,
);

/**
 * `--json /dev/stdout` where stdout is a socket (a Bun or Node parent's pipe is a socketpair; systemd's
 * journal is a socket too): the checks pass it, one of the process's own descriptors, but a socket cannot
 * be opened by name (/proc/self/fd/1), and the JSON was lost after the run (ENXIO).
 */
test("a --json naming this process's stdout, a socket, is written into it", async () => {
  const at = mkdtempSync(join(dir, "socket-stdout-"));
  const script = join(at, "writer.ts");
  writeFileSync(
    script,
    `import { fstatSync } from "node:fs";\n` +
      `import { writeJson } from ${JSON.stringify(join(REPO, "src/bench/output.ts"))};\n` +
      "if (!fstatSync(1).isSocket()) throw new Error('stdout is not a socket');\n" +
      "for (const json of ['/dev/stdout', '/dev/fd/1', '/proc/self/fd/1']) await writeJson(json, { json });\n",
  );
  const child = Bun.spawn([process.execPath, script], { stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr] = [await new Response(child.stdout).text(), await new Response(child.stderr).text()];
  expect(stderr).toBe("");
  expect(await child.exited).toBe(0);
  expect(stdout).toBe(
    ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"]
      .map((json) => `${JSON.stringify({ json }, null, 2)}\n`)
      .join(""),
  );
});

/**
 * A --json that is a file mounted in place (`docker run -v ./results.json:/out/results.json`): no file can
 * be renamed over a mount point (EBUSY), and the JSON was lost after the run. Mounted in a mount namespace
 * of the writer's own (unshare -m), so nothing else sees it.
 */
testUnless(
  cannotMount ?? toolMissing("unshare"),
  "a --json that is a file mounted in place is written into it",
  async () => {
    const at = mkdtempSync(join(dir, "bind-"));
    const source = join(at, "outside.json");
    const json = join(at, "results.json");
    writeFileSync(source, '{"previous": true}\n');
    writeFileSync(json, "");
    const script = join(at, "writer.ts");
    writeFileSync(
      script,
      `import { writeJson } from ${JSON.stringify(join(REPO, "src/bench/output.ts"))};\n` +
        "await writeJson(process.argv[2], { run: 4 });\n",
    );
    const child = Bun.spawn(
      [
        "unshare",
        "-m",
        "sh",
        "-c",
        'mount --bind "$1" "$2" && exec "$3" "$4" "$2"',
        "sh",
        source,
        json,
        process.execPath,
        script,
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    expect(await new Response(child.stderr).text()).toBe("");
    expect(await child.exited).toBe(0);
    expect(JSON.parse(readFileSync(source, "utf8"))).toEqual({ run: 4 });
    expect(readdirSync(at).sort()).toEqual(["outside.json", "results.json", "writer.ts"]);
  },
);

/**
 * A file mounted in place is written into, truncated first: a write that then failed part way (its file
 * system full) lost the previous run's JSON as well as this one's, where the error alone had kept it. The
 * mounted file lives on a small tmpfs, full, of the writer's own mount namespace.
 */
testUnless(
  cannotMount ?? toolMissing("unshare"),
  "a --json mounted in place whose file system is full keeps its previous contents",
  async () => {
    const at = mkdtempSync(join(dir, "bind-full-"));
    const json = join(at, "results.json");
    writeFileSync(json, "");
    const script = join(at, "writer.ts");
    writeFileSync(
      script,
      `import { writeJson } from ${JSON.stringify(join(REPO, "src/bench/output.ts"))};\n` +
        "try { await writeJson(process.argv[2], { run: 5, raw: 'x'.repeat(2_000_000) }); } " +
        "catch (error) { console.log((error as Error).message); }\n",
    );
    const small = join(at, "small");
    const child = Bun.spawn(
      [
        "unshare",
        "-m",
        "sh",
        "-c",
        'mkdir "$1" && mount -t tmpfs -o size=1m none "$1" && echo \'{"previous": true}\' > "$1/outside.json" && ' +
          '{ dd if=/dev/zero of="$1/fill" bs=4k 2>/dev/null; true; } && mount --bind "$1/outside.json" "$2" && ' +
          '"$3" "$4" "$2" && cat "$1/outside.json"',
        "sh",
        small,
        json,
        process.execPath,
        script,
      ],
      { stdout: "pipe", stderr: "pipe" },
    );
    const said = await new Response(child.stdout).text();
    expect(await new Response(child.stderr).text()).toBe("");
    expect(await child.exited).toBe(0);
    expect(said).toBe(
      `Failed to write ${json} since no space left on device (ENOSPC): free space there\n{"previous": true}\n`,
    );
  },
);

/**
 * `--json /dev/stdout` where stdout is a file (`> out.txt`, `>> bench.log`): opened by name, it was truncated
 * (O_TRUNC), and the markdown tables written to stdout before it, or all the log appended to, were lost.
 * Written into the descriptor, it follows them, as the shell's redirection does.
 */
test("a --json naming this process's stdout, a file, follows what stdout already holds", async () => {
  const at = mkdtempSync(join(dir, "file-stdout-"));
  const script = join(at, "writer.ts");
  writeFileSync(
    script,
    `import { writeSync } from "node:fs";\n` +
      `import { writeJson } from ${JSON.stringify(join(REPO, "src/bench/output.ts"))};\n` +
      "writeSync(1, '# tables\\n');\n" +
      "for (const json of ['/dev/stdout', '/dev/fd/1', '/proc/self/fd/1']) await writeJson(json, { json });\n",
  );
  const log = join(at, "bench.log");
  writeFileSync(log, "an earlier run\n");
  const child = Bun.spawn(["sh", "-c", '"$1" "$2" >> "$3"', "sh", process.execPath, script, log], {
    stdout: "pipe",
    stderr: "pipe",
  });
  expect(await new Response(child.stderr).text()).toBe("");
  expect(await child.exited).toBe(0);
  expect(readFileSync(log, "utf8")).toBe(
    `an earlier run\n# tables\n${["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"]
      .map((json) => `${JSON.stringify({ json }, null, 2)}\n`)
      .join("")}`,
  );
});
