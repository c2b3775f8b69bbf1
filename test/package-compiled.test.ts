/**
 * A user's own program compiled into one executable (`bun build --compile`, e.g. to run in a guest without
 * Bun), as the README's library section says to build it. Found by a package trial: the README did not
 * say that such a program carries the native helper only if the build is given it, so a compiled program
 * ran the portable path and a touch of memory it held no grant for was Bun's "Bun has crashed" report,
 * not ivsh's explanation.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { INSTALL_MS, newProject, packCheckout, run } from "./helpers/npm-project.ts";
import { REPO, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EXIT_BOUND_MS } from "./helpers/processes.ts";

/** Touches a view of a segment after its free(): a fault in memory the process holds no grant for. */
const APP = `import { connect } from "ivsh";

const client = await connect();
const segment = await client.alloc(4096);
const view = segment.bytes;
await segment.free();
view[0] = 1;
console.log("the write went through");
`;

let paths: TestPaths;
let project: string;

beforeAll(async () => {
  paths = testPaths("package-compiled");
  const packed = await packCheckout(["--pack-destination", paths.dir]);
  expect(packed.exitCode, packed.output).toBe(0);
  const tarball = join(paths.dir, packed.stdout.trim().split("\n").at(-1)!);
  project = newProject(paths.dir, "compiled-user");
  const installed = await run(["npm", "install", "--no-audit", "--no-fund", "--prefer-offline", tarball], {
    cwd: project,
  });
  expect(installed.exitCode, installed.output).toBe(0);
}, INSTALL_MS);

afterAll(() => paths?.cleanup());

/** The README's command that compiles a user's app.ts with the helper, as words to run. */
function compileCommand(): string[] {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const library = readme.slice(readme.indexOf("\n## The library\n"));
  const line = /`((?:npx )?bun build --compile [^`]*libivsh-native\.so[^`]*)`/.exec(library)?.[1];
  expect(line, "the library section's `bun build --compile ...` with the helper").toBeDefined();
  return line!.split(/\s+/).filter((word) => word !== "npx");
}

test(
  "a program compiled as the README says carries the helper: a touch of memory without a grant is explained",
  async () => {
    writeFileSync(join(project, "app.ts"), APP);
    const [, ...args] = compileCommand();
    const compiled = await run([process.execPath, ...args], { cwd: project });
    expect(compiled.exitCode, compiled.output).toBe(0);
    const arbiter = await ArbiterProcess.start(paths);
    try {
      const ran = await run(["./app"], {
        cwd: project,
        env: { IVSH_SOCKET: paths.socket, IVSH_REGION: paths.region },
        boundMs: EXIT_BOUND_MS,
      });
      expect(ran.exitCode).not.toBe(0);
      expect(ran.stdout).not.toContain("the write went through");
      expect(ran.stderr).toContain("ivsh: this process touched shared memory it holds no grant for");
    } finally {
      await arbiter.stop();
    }
  },
  INSTALL_MS,
);
