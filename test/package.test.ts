/**
 * The library as a package, as a user gets it: `npm pack`, then `npm install <tarball>` (and `bun add`) in
 * a new project on a PATH without Bun, a user's script type-checked with `tsc --strict` (no @types/bun,
 * no @types/node) and run with Bun against a real arbiter, configured only by the environment, without
 * calling close().
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import ts from "typescript";
import { withEnvironment } from "../src/guest/connect-options.ts";
import * as library from "../src/guest/index.ts";
import * as shm from "../src/guest/shm.ts";
import * as channel from "../src/transfer/index.ts";
import { INSTALL_MS, newProject, packCheckout, run, SYSTEM_PATH, TSC } from "./helpers/npm-project.ts";
import { REPO, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EXIT_BOUND_MS } from "./helpers/processes.ts";

const BUN = process.execPath;
const CJS_SCRIPT = `import { type Client, connect } from "ivsh";
import { ChannelSender } from "ivsh/channel";
import { shm_uid } from "ivsh/shm";

export async function start(): Promise<Client> {
  const client = await connect();
  await (await ChannelSender.open(client, "cjs")).close();
  console.log(shm_uid);
  return client;
}
`;

let paths: TestPaths;
let tarball: string;
let npmProject: string;

/**
 * Runs the user's scripts (app.ts unless named) in `project` with bun, one after another, against an
 * arbiter of its own, found only through IVSH_SOCKET / IVSH_REGION; a script that does not exit by itself
 * within the bound is killed and fails. Stops at the first that fails.
 */
async function runUserScript(project: string, scripts = ["app.ts"]) {
  // No state from the last run: a script that exits without close() just as that run's arbiter stops
  // leaves its session in the state, kept for resumption as a restart must (its 'pkg-board' with it).
  for (const name of readdirSync(paths.dir))
    if (name.startsWith(basename(paths.state))) rmSync(join(paths.dir, name), { force: true });
  const arbiter = await ArbiterProcess.start(paths);
  try {
    let ran: Awaited<ReturnType<typeof run>> | undefined;
    for (const script of scripts) {
      ran = await run([BUN, script], {
        cwd: project,
        env: { IVSH_SOCKET: paths.socket, IVSH_REGION: paths.region },
        boundMs: EXIT_BOUND_MS,
      });
      if (ran.exitCode !== 0) return { ...ran, output: `${script}: ${ran.output}` };
    }
    return ran!;
  } finally {
    await arbiter.stop();
  }
}

/** The part of README.md from `heading` to the next heading of its level. */
function readmeSection(heading: string): string {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const start = readme.indexOf(`\n${heading}\n`);
  expect(start).toBeGreaterThan(0);
  const end = readme.indexOf("\n## ", start + heading.length + 2);
  return readme.slice(start, end < 0 ? undefined : end);
}

/** Fenced TypeScript blocks, indented ones (in a list item) too, without their indent. */
function codeExamples(markdown: string): string[] {
  return [...markdown.matchAll(/^( *)```ts\n([\s\S]*?)^\1```$/gm)].map(([, indent, code]) =>
    code!.replace(new RegExp(`^${indent}`, "gm"), ""),
  );
}

/** The fenced examples in the installed package's declarations: what an editor shows on hover. */
function declarationExamples(project: string): string[] {
  const types = join(project, "node_modules/ivsh/types");
  const files = readdirSync(types, { recursive: true, encoding: "utf8" }).filter((file) =>
    file.endsWith(".d.ts"),
  );
  return files.flatMap((file) => {
    const uncommented = readFileSync(join(types, file), "utf8").replace(/^\s*\*( |$)/gm, "");
    return codeExamples(uncommented);
  });
}

beforeAll(async () => {
  paths = testPaths("package");
  // npm runs the package's prepack (the type declarations) with node_modules/.bin on its PATH.
  const packed = await packCheckout(["--pack-destination", paths.dir]);
  expect(packed.exitCode, packed.output).toBe(0);
  tarball = join(paths.dir, packed.stdout.trim().split("\n").at(-1)!);
  npmProject = newProject(paths.dir, "npm-user");
  const installed = await run(["npm", "install", "--no-audit", "--no-fund", "--prefer-offline", tarball], {
    cwd: npmProject,
  });
  expect(installed.exitCode, installed.output).toBe(0);
}, INSTALL_MS);

afterAll(() => paths?.cleanup());

describe("npm install <tarball> on a machine without bun on PATH", () => {
  test("the install builds the native helper with the C compiler", () => {
    expect(existsSync(join(npmProject, "node_modules/ivsh/build/native/libivsh-native.so"))).toBe(true);
  });

  test(
    "without a C compiler the install still succeeds, and says in one line why the helper is missing",
    async () => {
      const rebuilt = await run(["npm", "rebuild", "ivsh", "--foreground-scripts"], {
        cwd: npmProject,
        env: { CC: "/nonexistent/cc" },
      });
      expect(rebuilt.exitCode, rebuilt.output).toBe(0);
      const lines = rebuilt.output.split("\n").filter((line) => line.includes("native copy+hash helper"));
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain("was not built since there is no C compiler '/nonexistent/cc'");
      expect(lines[0]).toContain("portable path");
    },
    INSTALL_MS,
  );

  // Node10 is what `module: CommonJS` resolves with unless told otherwise; it reads no `exports`, so the
  // subpaths need typesVersions. Its script has no top-level await, which CommonJS output cannot have.
  for (const resolution of [
    ["NodeNext", "NodeNext", "app.ts"],
    ["Preserve", "Bundler", "app.ts"],
    ["CommonJS", "Node10", "cjs-app.ts"],
  ] as const)
    test(`tsc --strict accepts the user's script (module ${resolution[0]}, resolution ${resolution[1]}), with no @types/bun or @types/node`, async () => {
      writeFileSync(join(npmProject, "cjs-app.ts"), CJS_SCRIPT);
      const config = join(npmProject, `tsconfig.${resolution[1]}.json`);
      const compilerOptions = {
        strict: true,
        noEmit: true,
        skipLibCheck: false,
        target: "ESNext",
        module: resolution[0],
        moduleResolution: resolution[1],
        types: [],
      };
      writeFileSync(config, JSON.stringify({ compilerOptions, files: [resolution[2]] }));
      const checked = await run([TSC, "-p", config], { cwd: npmProject });
      expect(checked.exitCode, checked.output).toBe(0);
    });

  test("the script, run with bun, finds the arbiter through IVSH_SOCKET / IVSH_REGION and exits without close()", async () => {
    const ran = await runUserScript(npmProject);
    expect(ran.exitCode, ran.output).toBe(0);
    expect(ran.stdout).toContain("open refused: NotFound");
    expect(ran.stdout).toMatch(/wrote 42 as client \d+; shm_uid is a function/);
    expect(ran.stdout).toContain("channel: sent 16, received 16");
  });

  test("every TypeScript example of the README's library section and of the API's doc comments type-checks and runs as written", async () => {
    const readme = codeExamples(readmeSection("## The library"));
    const hover = declarationExamples(npmProject);
    // Each entry point has one in the README and one in its own documentation, as an editor shows it.
    for (const entry of ['"ivsh"', '"ivsh/shm"', '"ivsh/channel"'])
      for (const [where, found] of Object.entries({ readme, hover }))
        expect(
          found.some((example) => example.includes(` from ${entry};`)),
          `${where}: ${entry}`,
        ).toBe(true);
    const examples = [...readme, ...hover];
    const files = examples.map((example, index) => {
      writeFileSync(join(npmProject, `example-${index}.ts`), example);
      return `example-${index}.ts`;
    });
    const config = join(npmProject, "tsconfig.examples.json");
    const compilerOptions = { strict: true, noEmit: true, target: "ESNext", module: "NodeNext", types: [] };
    writeFileSync(config, JSON.stringify({ compilerOptions, files }));
    const checked = await run([TSC, "-p", config], { cwd: npmProject });
    expect(checked.exitCode, checked.output).toBe(0);
    const ran = await runUserScript(npmProject, files);
    expect(ran.exitCode, ran.output).toBe(0);
  });

  // The installed README sent its reader to docs/api and docs/layout.md, which the tarball did not hold.
  test("every file the installed README's library section links to is in the installed package", () => {
    const installed = join(npmProject, "node_modules/ivsh");
    const section = readmeSection("## The library");
    const links = [...section.matchAll(/\]\(([^)#:]+)(#[^)]*)?\)/g)].map((match) => match[1]!);
    expect(links).toContain("docs/api/README.md");
    expect(links.filter((link) => !existsSync(join(installed, link)))).toEqual([]);
  });

  test("every name each entry point exports has a doc comment in the installed declarations (what hover shows)", () => {
    const types = join(npmProject, "node_modules/ivsh/types");
    const entries = ["guest/index.d.ts", "guest/shm.d.ts", "transfer/index.d.ts"].map((file) =>
      join(types, file),
    );
    const program = ts.createProgram(entries, { strict: true, types: [], noEmit: true });
    const checker = program.getTypeChecker();
    const undocumented = entries.flatMap((entry) => {
      const module = checker.getSymbolAtLocation(program.getSourceFile(entry)!)!;
      return checker.getExportsOfModule(module).flatMap((exported) => {
        const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
        // A class's static factory is how it is used, so it needs words too.
        const open = symbol.exports?.get(ts.escapeLeadingUnderscores("open"));
        const named: [string, ts.Symbol][] = [[exported.name, symbol]];
        if (open) named.push([`${exported.name}.open`, open]);
        return named
          .filter(
            ([, documented]) => !ts.displayPartsToString(documented.getDocumentationComment(checker)).trim(),
          )
          .map(([name]) => name);
      });
    });
    expect(undocumented).toEqual([]);
  });

  test("imported under Node, it says it needs Bun (not a missing export)", async () => {
    writeFileSync(
      join(npmProject, "node-app.mjs"),
      'import { connect } from "ivsh";\nconsole.log(connect);\n',
    );
    const ran = await run(["node", "node-app.mjs"], { cwd: npmProject });
    expect(ran.exitCode).not.toBe(0);
    expect(ran.stderr).toContain("Failed to load ivsh since it runs on Bun");
  });

  test("the package's ivsh command runs the CLI with the bun it finds, and says so when there is none", async () => {
    const shim = join(npmProject, "node_modules/.bin/ivsh");
    const withBun = await run([shim, "--version"], {
      cwd: npmProject,
      env: { PATH: `${join(REPO, "node_modules/.bin")}:${SYSTEM_PATH}` },
    });
    expect(withBun.exitCode, withBun.output).toBe(0);
    expect(withBun.stdout.trim()).toBe(JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version);
    // Run by Bun itself (`bun node_modules/.bin/ivsh`), the same file runs the CLI in-process.
    const underBun = await run([BUN, shim, "--version"], { cwd: npmProject });
    expect(underBun.stdout.trim()).toBe(withBun.stdout.trim());
    const without = await run([shim, "--version"], { cwd: npmProject });
    expect(without.exitCode).toBe(1);
    expect(without.stderr).toContain("the CLI runs on Bun, and there is no `bun` on PATH");
  });
});

test(
  "bun add <tarball>: the import resolves and the script runs (Bun blocks the postinstall: portable path)",
  async () => {
    const project = newProject(paths.dir, "bun-user");
    const added = await run([BUN, "add", tarball], { cwd: project });
    expect(added.exitCode, added.output).toBe(0);
    const ran = await runUserScript(project);
    expect(ran.exitCode, ran.output).toBe(0);
    expect(ran.stdout).toMatch(/wrote 42 as client \d+/);
  },
  INSTALL_MS,
);

// npm runs `prepare` for a directory it installs: the package's (node scripts/types.mjs) named a file the
// tarball did not hold, so installing an unpacked tarball failed with Node's MODULE_NOT_FOUND stack (and,
// with the file there, it would say that types/ was not generated though the tarball brought it).
test(
  "npm install of the unpacked tarball's directory succeeds, and the user's tsc --strict finds its types",
  async () => {
    const unpacked = join(paths.dir, "unpacked");
    mkdirSync(unpacked, { recursive: true });
    const extracted = await run(["tar", "xzf", tarball, "-C", unpacked], { cwd: paths.dir });
    expect(extracted.exitCode, extracted.output).toBe(0);
    const project = newProject(paths.dir, "unpacked-user");
    const installed = await run(
      [
        "npm",
        "install",
        "--no-audit",
        "--no-fund",
        "--prefer-offline",
        "--foreground-scripts",
        join(unpacked, "package"),
      ],
      { cwd: project },
    );
    expect(installed.exitCode, installed.output).toBe(0);
    expect(installed.output).not.toContain("MODULE_NOT_FOUND");
    // Nor a warning that its types are missing: they came in the tarball.
    expect(installed.output).not.toContain("was not generated");
    const config = join(project, "tsconfig.json");
    const compilerOptions = { strict: true, noEmit: true, target: "ESNext", module: "NodeNext", types: [] };
    writeFileSync(config, JSON.stringify({ compilerOptions, files: ["app.ts"] }));
    const checked = await run([TSC, "-p", config], { cwd: project });
    expect(checked.exitCode, checked.output).toBe(0);
  },
  INSTALL_MS,
);

// package.json's "man" was a string, which npm 11's linker skips (it takes only an array): `man ivsh`
// found nothing after a global install.
test(
  "npm install -g <tarball> puts the ivsh command and its man page under the prefix",
  async () => {
    const prefix = join(paths.dir, "global");
    const installed = await run(
      ["npm", "install", "-g", "--prefix", prefix, "--no-audit", "--no-fund", "--prefer-offline", tarball],
      { cwd: paths.dir },
    );
    expect(installed.exitCode, installed.output).toBe(0);
    expect(existsSync(join(prefix, "bin/ivsh"))).toBe(true);
    expect(existsSync(join(prefix, "share/man/man1/ivsh.1"))).toBe(true);
  },
  INSTALL_MS,
);

// ivsh's system calls are Linux x86-64's (futex is syscall 202 there, accept(2) on arm64): npm installed it
// anywhere, and on arm64 a contended lock failed with "futex FUTEX_WAIT: EBADF". npm, told the CPU is
// arm64 (a preload), must refuse the install, naming the platform it needs.
test(
  "npm install <tarball> on another CPU is refused as an unsupported platform",
  async () => {
    const preload = join(paths.dir, "arm64.cjs");
    writeFileSync(preload, 'Object.defineProperty(process, "arch", { value: "arm64" });\n');
    const project = newProject(paths.dir, "arm64-user");
    const installed = await run(["npm", "install", "--no-audit", "--no-fund", "--prefer-offline", tarball], {
      cwd: project,
      env: { NODE_OPTIONS: `--require ${preload}` },
    });
    expect(installed.exitCode).not.toBe(0);
    const { version } = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8"));
    expect(installed.output).toContain(
      `Unsupported platform for ivsh@${version}: wanted {"os":"linux","cpu":"x64"}`,
    );
    expect(existsSync(join(project, "node_modules/ivsh"))).toBe(false);
  },
  INSTALL_MS,
);

// The portable path's reason told a package user to run `npm run build:native`, a script of ivsh's own
// checkout: in the user's project npm answers "Missing script". The command it names must build it there.
test(
  "installed, the commands its notes name work in the user's project: the native helper's build, bench's binary",
  async () => {
    const project = newProject(paths.dir, "bun-no-helper");
    const added = await run([BUN, "add", tarball], { cwd: project }); // Bun blocks the postinstall
    expect(added.exitCode, added.output).toBe(0);
    // What `ivsh guest send --json` reports as digestPath.
    writeFileSync(
      join(project, "digest-path.ts"),
      'import { nativeStatus } from "./node_modules/ivsh/src/ffi/native.ts";\nconsole.log(nativeStatus().detail);\n',
    );
    const before = await run([BUN, "digest-path.ts"], { cwd: project });
    expect(before.stdout).toContain("is not built");
    const command = /: run `?([^`)]+)`?/.exec(before.stdout)?.[1];
    expect(command, before.stdout).toBeDefined();
    const built = await run(command!.split(" "), { cwd: project });
    expect(built.exitCode, `${command}: ${built.output}`).toBe(0);
    const after = await run([BUN, "digest-path.ts"], { cwd: project });
    expect(after.stdout).toStartWith("native");
    // Likewise `ivsh bench`'s note on the binary its end-to-end rows ran: it said to run `npm run build`,
    // which in the user's project is their own build or none (the package has no compiled ivsh to make).
    writeFileSync(
      join(project, "bench-binary.ts"),
      'import { prepareEndToEnd } from "./node_modules/ivsh/src/bench/end-to-end.ts";\n' +
        'const setup = await prepareEndToEnd({ socket: "s", region: "r" } as never, 4096);\n' +
        "setup.remove();\nconsole.log(setup.binary);\n",
    );
    const note = await run([BUN, "bench-binary.ts"], { cwd: project });
    expect(note.exitCode, note.output).toBe(0);
    expect(note.stdout).toContain("dist/ivsh");
    const told = /run `([^`]+)` first/.exec(note.stdout)?.[1];
    if (told) {
      const done = await run(told.split(" "), { cwd: project });
      expect(done.exitCode, `${told}: ${done.output}`).toBe(0);
    }
  },
  INSTALL_MS,
);

test("the Node stand-in declares every name the library exports", () => {
  const stand = readFileSync(join(REPO, "lib/needs-bun.mjs"), "utf8");
  const declared = [...stand.matchAll(/export let ([^;]+);/g)].flatMap((match) =>
    match[1]!.split(",").map((name) => name.trim()),
  );
  const exported = [...Object.keys(library), ...Object.keys(shm), ...Object.keys(channel)];
  expect(declared.sort()).toEqual(exported.sort());
});

test("connect() takes what its options leave out from IVSH_SOCKET / IVSH_REGION / IVSH_CONNECT; options win", () => {
  const env = { IVSH_SOCKET: "/env/sock", IVSH_REGION: "/env/region", IVSH_CONNECT: "10.0.2.100:7777" };
  // The socket variable wins over the address one; both fill in only where neither was given.
  expect(withEnvironment({}, env)).toEqual({ socket: "/env/sock", region: "/env/region" });
  expect(withEnvironment({}, { IVSH_CONNECT: "10.0.2.100:7777" })).toEqual({ tcp: "10.0.2.100:7777" });
  expect(withEnvironment({ socket: "/mine", name: "x" }, env)).toEqual({
    socket: "/mine",
    name: "x",
    region: "/env/region",
  });
  // An explicit address is not overridden by IVSH_SOCKET (which host users export).
  expect(withEnvironment({ tcp: "127.0.0.1:1" }, env)).toEqual({ tcp: "127.0.0.1:1", region: "/env/region" });
  expect(withEnvironment({}, {})).toEqual({});
});
