/**
 * `npm run build`: the native helper, then the single executable dist/ivsh with the helper embedded (its
 * chunks and their source maps are inside it; the .map files beside it are for reading stack traces).
 * `npm run build:native` (scripts/native.mjs, also `npm install`'s postinstall): the helper alone, into
 * build/native/. `bun scripts/build.ts types`: the library's declarations, types/ (scripts/types.mjs, also
 * npm's prepare and prepack).
 *
 * The helper (src/ffi/native/copyhash.c) is optional at run time, so without a C compiler the build only
 * warns and dist/ivsh runs its portable path (the same digest, a slower sender; `--json` summaries say
 * which path ran). `native` alone, as run by hand, fails instead; `native --optional` (npm install) warns.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import { buildName } from "./build-name.ts";
import { buildNative, NATIVE_OUTPUT } from "./native.mjs";
import { buildTypes } from "./types.mjs";

const REPO = join(import.meta.dir, "..");

function run(command: string[]): { ok: boolean; output: string } {
  try {
    const result = Bun.spawnSync(command, { cwd: REPO, stdout: "pipe", stderr: "pipe" });
    return { ok: result.exitCode === 0, output: `${result.stdout}${result.stderr}`.trim() };
  } catch (error) {
    return { ok: false, output: (error as Error).message };
  }
}

function buildExecutable(withNative: boolean): void {
  // Split, the build writes a source map per chunk next to the binary: a fresh dist/ keeps only this
  // build's.
  rmSync(join(REPO, "dist"), { recursive: true, force: true });
  const { ok, output } = run([
    process.execPath,
    "build",
    "--compile",
    "--minify",
    // Compiled ahead of time: a 1 KiB `guest send` → `recv` took 60 ms with the source parsed at start,
    // 40 ms with bytecode (docs/bench/transfer-path.md); in a TCG guest start-up dominates even more.
    "--bytecode",
    // JavaScriptCore compiles 1000× more reluctantly until a command that runs long says otherwise
    // (src/cli.ts): a 1 KiB send → recv is over before compiled code would pay for itself, and the
    // compiler threads took CPU from both ends (median 18.0 → 16.3 ms; docs/bench/transfer-path.md).
    "--compile-jit-policy=1000",
    // The user's working directory is not our configuration: its bunfig.toml or .env would change how
    // ivsh runs, and reading them cost time at every start.
    "--no-compile-autoload-bunfig",
    "--no-compile-autoload-dotenv",
    // Every lazily loaded command in a chunk of its own: the runtime then loads at start only the bytecode
    // of the CLI and of `guest send` / `recv` (loaded with it, src/commands/guest.ts), not that of the
    // arbiter, the benchmarks and the demo. 1 KiB send → recv, interleaved, 15 and 21 runs: median
    // 20.1–21.6 ms in one bundle, 17.3–18.0 ms split (docs/bench/transfer-path.md).
    "--splitting",
    "--format=esm",
    "--sourcemap",
    "--asset-naming=[name].[ext]",
    // What `ivsh --version` names (src/version.ts): a constant in the bytecode, nothing read at start.
    "--define",
    `IVSH_BUILD=${JSON.stringify(buildName(REPO))}`,
    "src/cli.ts",
    ...(withNative ? [NATIVE_OUTPUT] : []),
    "--outfile",
    "dist/ivsh",
  ]);
  if (!ok) throw new Error(`bun build --compile failed: ${output}`);
  console.log(output);
}

const [target = "all", flag] = process.argv.slice(2);
try {
  if (target === "native") buildNative(flag === "--optional");
  else if (target === "types") buildTypes(true);
  else if (target === "all") buildExecutable(buildNative(true));
  else throw new Error(`unknown target '${target}': use 'native [--optional]', 'types' or 'all'`);
} catch (error) {
  console.error(`build: ${(error as Error).message}`);
  process.exit(1);
}
