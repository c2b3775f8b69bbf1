/**
 * `ivsh --version` named no build: two executables built 200 commits apart both printed 0.1.0, and an
 * operator could not tell which one a host ran, nor whether its arbiter had been restarted on the new one.
 * scripts/build.ts now embeds the commit (and whether tracked files had changed) in dist/ivsh, "unknown" from
 * a tree that is no git checkout of its own; `ivsh status` names the arbiter's.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import packageJson from "../package.json" with { type: "json" };
import { buildName } from "../scripts/build-name.ts";
import { pathWithout } from "./helpers/path-without.ts";
import { REPO, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, runCli } from "./helpers/processes.ts";
import { BINARY, ensureBinary } from "./vm/vm.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("version-build");
});
afterAll(() => paths?.cleanup());

function git(dir: string, ...words: string[]): string {
  const ran = Bun.spawnSync(["git", "-C", dir, ...words], {
    env: {
      ...process.env,
      GIT_AUTHOR_NAME: "t",
      GIT_AUTHOR_EMAIL: "t@t",
      GIT_COMMITTER_NAME: "t",
      GIT_COMMITTER_EMAIL: "t@t",
      GIT_COMMITTER_DATE: "2026-01-02T03:04:05Z",
    },
  });
  if (ran.exitCode !== 0) throw new Error(`git ${words.join(" ")}: ${ran.stderr}`);
  return ran.stdout.toString().trim();
}

test("a tree that is no git checkout (a tarball's) is built as 'unknown'", () => {
  const tarball = join(paths.dir, "tarball");
  mkdirSync(tarball);
  expect(buildName(tarball)).toBe("unknown");
  // Unpacked inside another project's checkout: that project's commit is not this build's.
  const outer = join(paths.dir, "outer");
  mkdirSync(join(outer, "ivsh-0.1.0"), { recursive: true });
  git(outer, "init", "-q");
  writeFileSync(join(outer, "file"), "one");
  git(outer, "add", "file");
  git(outer, "commit", "-q", "-m", "one");
  expect(buildName(join(outer, "ivsh-0.1.0"))).toBe("unknown");
});

test("a checkout's build is its commit and the commit's date, with -dirty while tracked files differ", () => {
  const checkout = join(paths.dir, "checkout");
  mkdirSync(checkout);
  git(checkout, "init", "-q");
  writeFileSync(join(checkout, "file"), "one");
  git(checkout, "add", "file");
  git(checkout, "commit", "-q", "-m", "one");
  const commit = git(checkout, "rev-parse", "--short=12", "HEAD");
  expect(buildName(checkout)).toBe(`${commit} 2026-01-02`);
  // An untracked file (a build's output, an editor's) does not make the build another.
  writeFileSync(join(checkout, "untracked"), "x");
  expect(buildName(checkout)).toBe(`${commit} 2026-01-02`);
  writeFileSync(join(checkout, "file"), "two");
  expect(buildName(checkout)).toBe(`${commit}-dirty 2026-01-02`);
});

test("dist/ivsh --version names its build: a commit of this checkout, or unknown", async () => {
  await ensureBinary();
  const ran = Bun.spawnSync([BINARY, "--version"]);
  const printed = ran.stdout.toString();
  const match = /^(\S+) \((?:([0-9a-f]{12})(?:-dirty)? \d{4}-\d\d-\d\d|build unknown)\)\n$/.exec(printed);
  expect({ printed, matched: match !== null }).toEqual({ printed, matched: true });
  expect(match![1]).toBe(packageJson.version);
  // Built from this checkout (perhaps some commits ago, when src last changed): an ancestor of HEAD.
  const commit = match![2];
  if (commit !== undefined)
    expect(Bun.spawnSync(["git", "-C", REPO, "merge-base", "--is-ancestor", commit, "HEAD"]).exitCode).toBe(
      0,
    );
}, 120_000);

test("ivsh status names the arbiter's version and build; --json as arbiterVersion", async () => {
  const arbiter = await ArbiterProcess.start(paths);
  try {
    // Run from source, as here, the version alone: a source tree is no build.
    const version = (await runCli(["--version"])).stdout.trim();
    const json = await runCli(["status", "--json", "--limit", "0", "--socket", paths.socket]);
    expect(JSON.parse(json.stdout).arbiterVersion).toBe(version);
    const text = await runCli(["status", "--limit", "0", "--socket", paths.socket]);
    expect(text.stdout.split("\n")[0]).toMatch(
      new RegExp(
        `^arbiter pid ${arbiter.pid} \\(instance [0-9a-f]+\\), ivsh ${version.replaceAll(".", "\\.")}, epoch `,
      ),
    );
  } finally {
    await arbiter.stop();
  }
}, 60_000);

/** A checkout of one commit (dated as `git` dates it) with one tracked file, `file`. */
function checkoutAt(name: string): { dir: string; commit: string } {
  const dir = join(paths.dir, name);
  mkdirSync(dir);
  git(dir, "init", "-q");
  writeFileSync(join(dir, "file"), "one");
  git(dir, "add", "file");
  git(dir, "commit", "-q", "-m", "one");
  return { dir, commit: git(dir, "rev-parse", "--short=12", "HEAD") };
}

test("a checkout with no commit yet is built as 'unknown'", () => {
  const empty = join(paths.dir, "empty");
  mkdirSync(empty);
  git(empty, "init", "-q");
  expect(buildName(empty)).toBe("unknown");
});

test("a change staged but not committed makes the build -dirty, as one not staged does", () => {
  const { dir, commit } = checkoutAt("staged");
  writeFileSync(join(dir, "file"), "two");
  git(dir, "add", "file");
  expect(buildName(dir)).toBe(`${commit}-dirty 2026-01-02`);
});

test("a checkout whose index git cannot read is not called dirty (no difference known)", () => {
  const { dir, commit } = checkoutAt("bad-index");
  writeFileSync(join(dir, ".git", "index"), "garbage"); // git diff exits 128: 'index file smaller than expected'
  expect(buildName(dir)).toBe(`${commit} 2026-01-02`);
});

test("a checkout named through a symbolic link, or relatively, is that checkout", () => {
  const { dir, commit } = checkoutAt("linked");
  const link = join(paths.dir, "link-to-checkout");
  symlinkSync(dir, link);
  expect(buildName(link)).toBe(`${commit} 2026-01-02`);
  expect(buildName(relative(process.cwd(), dir))).toBe(`${commit} 2026-01-02`);
});

test("built where git is not installed: 'unknown', not an empty commit", () => {
  const { dir } = checkoutAt("no-git");
  const script = `import { buildName } from ${JSON.stringify(join(REPO, "scripts/build-name.ts"))};
process.stdout.write(JSON.stringify(buildName(process.cwd())));`;
  const ran = Bun.spawnSync([process.execPath, "-e", script], {
    cwd: dir,
    env: { ...process.env, PATH: pathWithout(dir, "git") },
  });
  expect({ stdout: ran.stdout.toString(), stderr: ran.stderr.toString() }).toEqual({
    stdout: '"unknown"',
    stderr: "",
  });
});

/** `ivsh --version` from source, with `define` as scripts/build.ts gives it (bun --define), if any. */
function versionFromSource(define?: string): string {
  const defines = define === undefined ? [] : ["--define", `IVSH_BUILD:${JSON.stringify(define)}`];
  const ran = Bun.spawnSync([process.execPath, ...defines, join(REPO, "src/cli.ts"), "--version"]);
  return ran.stdout.toString();
}

test("--version: from source the release alone; built, the build, 'unknown' said as 'build unknown'", () => {
  expect(versionFromSource()).toBe(`${packageJson.version}\n`);
  expect(versionFromSource("6b2c4b13e0aa-dirty 2026-12-07")).toBe(
    `${packageJson.version} (6b2c4b13e0aa-dirty 2026-12-07)\n`,
  );
  expect(versionFromSource("unknown")).toBe(`${packageJson.version} (build unknown)\n`);
});
