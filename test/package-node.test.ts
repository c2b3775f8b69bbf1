/**
 * The package under Node, which ivsh does not run on: every way Node loads an entry point must stop with
 * the error that says ivsh needs Bun and how to run it. A CommonJS `require("ivsh")` on a Node without
 * require(esm) (before 20.19 and 22.12: Debian 12's and Ubuntu 24.04's Node 18 among them; pretended here
 * with --no-experimental-require-module) got Node's ERR_REQUIRE_ESM about lib/needs-bun.mjs instead.
 * The project reaches the package through a link to this checkout, as `npm install /path/to/ivsh` makes it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { run } from "./helpers/npm-project.ts";
import { REPO, type TestPaths, testPaths } from "./helpers/paths.ts";

const ENTRIES = ["ivsh", "ivsh/shm", "ivsh/channel"];
const NEEDS_BUN = "Failed to load ivsh since it runs on Bun";

let paths: TestPaths;
let project: string;

beforeAll(() => {
  paths = testPaths("package-node");
  project = join(paths.dir, "node-user");
  mkdirSync(join(project, "node_modules"), { recursive: true });
  writeFileSync(join(project, "package.json"), JSON.stringify({ name: "node-user", private: true }));
  symlinkSync(REPO, join(project, "node_modules/ivsh"));
});
afterAll(() => paths?.cleanup());

for (const [how, flags, extension, load] of [
  ["require(), Node without require(esm)", ["--no-experimental-require-module"], "cjs", "require"],
  ["require(), Node with require(esm)", [], "cjs", "require"],
  ["import", [], "mjs", "import"],
] as const)
  test(`under Node, ${how} of each entry point says ivsh needs Bun`, async () => {
    for (const entry of ENTRIES) {
      const script = join(project, `load.${extension}`);
      const statement =
        load === "require" ? `require(${JSON.stringify(entry)});` : `import ${JSON.stringify(entry)};`;
      writeFileSync(script, `${statement}\nconsole.log("loaded");\n`);
      const ran = await run(["node", ...flags, script], { cwd: project });
      expect(ran.exitCode, `${entry}: ${ran.output}`).not.toBe(0);
      expect(ran.stdout).toBe("");
      expect(ran.stderr, entry).toContain(NEEDS_BUN);
      expect(ran.stderr, entry).not.toContain("ERR_REQUIRE_ESM");
    }
  });

// A program that loads ivsh only if it can (`await import("ivsh").catch(...)`) must be able to catch the
// error: lib/needs-bun.mjs imported lib/needs-bun.cjs, and Node 20 reports a CommonJS module that throws
// under an ES import as uncaught even when the import() is caught: the program died at its first try.
test("under Node, a dynamic import() of each entry point rejects with the error, which the program catches", async () => {
  for (const entry of ENTRIES) {
    const script = join(project, "try-load.mjs");
    const load = `await import(${JSON.stringify(entry)}).catch((error) => error.message)`;
    writeFileSync(script, `console.log(${load});\nconsole.log("went on");\n`);
    const ran = await run(["node", script], { cwd: project });
    expect(ran.exitCode, `${entry}: ${ran.output}`).toBe(0);
    expect(ran.stdout, entry).toStartWith(NEEDS_BUN);
    expect(ran.stdout, entry).toEndWith("went on\n");
  }
});
