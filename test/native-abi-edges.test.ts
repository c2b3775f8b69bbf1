/**
 * src/ffi/native.ts's ABI check at its edges (openSymbols): a library of a newer ABI that has every
 * symbol this one binds is still not used (it may mean other things by them), and a library of this
 * ABI that lacks a symbol is reported as failing to load, with the loader's words, not as "ABI 5, needs
 * 5". Each case loads native.ts in a child, from a copy of the checkout's layout holding a stub library.
 */
import { afterAll, expect } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { testWithTool } from "./helpers/tools.ts";

const dir = mkdtempSync(join("/tmp", "ivsh-native-abi-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** ABI 5's exports but the ABI number and one left out: a stub library of them, in a checkout's layout. */
function layoutWith(name: string, abi: number, without?: string): string {
  const exports = ["ivsh_native_usable", "ivsh_native_tcg", "ivsh_digest_pieces", "ivsh_guard_region"];
  const more = ["ivsh_unguard_region", "ivsh_file_copy_ready", "ivsh_digest_pieces_from_file"];
  const body = [...exports, ...more]
    .filter((symbol) => symbol !== without)
    .map((symbol) => `int ${symbol}(void) { return 0; }`);
  const stub = join(dir, `${name}.c`);
  writeFileSync(stub, [`int ivsh_native_abi(void) { return ${abi}; }`, ...body, ""].join("\n"));
  const root = join(dir, name);
  mkdirSync(join(root, "src/ffi/native"), { recursive: true });
  mkdirSync(join(root, "build/native"), { recursive: true });
  copyFileSync(join(REPO, "src/ffi/native.ts"), join(root, "src/ffi/native.ts"));
  for (const source of ["copyhash.c", "fault.c"])
    copyFileSync(join(REPO, "src/ffi/native", source), join(root, "src/ffi/native", source));
  const built = join(root, "build/native/libivsh-native.so");
  const compile = Bun.spawnSync(["gcc", "-shared", "-fPIC", "-o", built, stub], { stderr: "pipe" });
  expect(compile.stderr.toString()).toBe("");
  const later = new Date(Date.now() + 60_000); // built after its sources, as a build leaves it
  utimesSync(built, later, later);
  return root;
}

async function statusIn(root: string): Promise<string> {
  const script = `import { nativeStatus } from ${JSON.stringify(join(root, "src/ffi/native.ts"))};
console.log(nativeStatus().detail);`;
  const { IVSH_NATIVE: _, ...env } = process.env;
  const child = tracked(Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe", env }));
  const said = Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  expect(await exitOrKill(child, EXIT_BOUND_MS)).toBe(0);
  const [stdout, stderr] = await said;
  expect(stderr).toBe("");
  return stdout.trim();
}

testWithTool(
  "gcc",
  "a library of a newer ABI is not used, though it has every symbol this one binds",
  async () => {
    expect(await statusIn(layoutWith("abi6", 6))).toBe(
      "portable (libivsh-native.so has ABI 6, this ivsh needs 5: rebuild it)",
    );
  },
);

testWithTool(
  "gcc",
  "a library of this ABI lacking a symbol did not load: the loader's words, not its ABI",
  async () => {
    const status = await statusIn(layoutWith("abi5-short", 5, "ivsh_digest_pieces_from_file"));
    expect(status).toStartWith("portable (libivsh-native.so did not load: ");
    expect(status).toContain("ivsh_digest_pieces_from_file");
  },
);
