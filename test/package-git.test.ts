/**
 * The package installed from a git checkout rather than a tarball: types/ is generated, not committed, so
 * npm's prepare (scripts/types.mjs) must make it, and a user's `tsc --strict` must find the types.
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { INSTALL_MS, newProject, run, TSC } from "./helpers/npm-project.ts";
import { REPO, type TestPaths, testPaths } from "./helpers/paths.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("package-git");
});
afterAll(() => paths?.cleanup());

/**
 * A checkout as `git clone` gives it: the files a commit of the working tree would hold (so the test sees
 * uncommitted changes too), in a new repository of one commit; nothing generated (types/, build/).
 */
async function freshCheckout(name: string): Promise<string> {
  const dir = join(paths.dir, name);
  const listed = await run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], {
    cwd: REPO,
  });
  for (const file of listed.stdout.split("\0").filter((file) => file && existsSync(join(REPO, file)))) {
    mkdirSync(dirname(join(dir, file)), { recursive: true });
    copyFileSync(join(REPO, file), join(dir, file));
  }
  const identity = ["-c", "user.name=ivsh test", "-c", "user.email=test@ivsh.invalid"];
  for (const step of [
    ["init", "-q"],
    ["add", "-A"],
    [...identity, "commit", "-qm", "checkout"],
  ]) {
    const done = await run(["git", ...step], { cwd: dir });
    expect(done.exitCode, done.output).toBe(0);
  }
  return dir;
}

/** tsc --strict over the user's script in `project`, as a TypeScript user runs it: exit 0 if ivsh has types. */
async function typeCheck(project: string) {
  const compilerOptions = { strict: true, noEmit: true, target: "ESNext", module: "NodeNext", types: [] };
  writeFileSync(join(project, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["app.ts"] }));
  return run([TSC, "-p", "tsconfig.json"], { cwd: project });
}

const NPM_INSTALL = ["npm", "install", "--no-audit", "--no-fund", "--prefer-offline", "--foreground-scripts"];

// types/ is generated and not in git: an install from a checkout got none, and tsc said "Could not find a
// declaration file for module 'ivsh'". npm's prepare (scripts/types.mjs) makes it.
describe("installed from a git checkout, types/ is generated", () => {
  test(
    "npm install git+file://CHECKOUT: the user's tsc --strict finds the types",
    async () => {
      const checkout = await freshCheckout("git-checkout");
      const project = newProject(paths.dir, "git-user");
      const installed = await run([...NPM_INSTALL, `git+file://${checkout}`], { cwd: project });
      expect(installed.exitCode, installed.output).toBe(0);
      expect(existsSync(join(project, "node_modules/ivsh/types/guest/index.d.ts"))).toBe(true);
      const checked = await typeCheck(project);
      expect(checked.exitCode, checked.output).toBe(0);
    },
    INSTALL_MS,
  );

  test(
    "npm install CHECKOUT (a link): says in one line to run npm install there; once run, tsc finds the types",
    async () => {
      const checkout = await freshCheckout("dir-checkout");
      const project = newProject(paths.dir, "dir-user");
      const linked = await run([...NPM_INSTALL, checkout], { cwd: project });
      expect(linked.exitCode, linked.output).toBe(0);
      expect(linked.output).toContain(
        `types/ (the TypeScript declarations) was not generated since TypeScript is not installed in ${checkout}`,
      );
      expect(linked.output).toContain("run `npm install` there");
      const prepared = await run([...NPM_INSTALL], { cwd: checkout });
      expect(prepared.exitCode, prepared.output).toBe(0);
      const checked = await typeCheck(project);
      expect(checked.exitCode, checked.output).toBe(0);
    },
    INSTALL_MS * 2,
  );
});
