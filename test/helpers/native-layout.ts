/**
 * A copy of the checkout's layout for src/ffi/native.ts (it decides once per process, from files beside
 * it, whether to load the helper), and what `nativeStatus` says in a child loading it from there.
 */
import { expect } from "bun:test";
import { copyFileSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./paths.ts";
import { EXIT_BOUND_MS, exitOrKill } from "./processes.ts";
import { tracked } from "./reaper.ts";

/**
 * The layout under `dir/name`: native.ts, its C sources, and `library` as the built helper (by default a
 * file that is no library: a case that decides before loading it needs none), built after its sources.
 */
export function nativeLayout(
  dir: string,
  name: string,
  library?: string,
): { root: string; library: string; source: string } {
  const root = join(dir, name);
  mkdirSync(join(root, "src/ffi/native"), { recursive: true });
  mkdirSync(join(root, "build/native"), { recursive: true });
  copyFileSync(join(REPO, "src/ffi/native.ts"), join(root, "src/ffi/native.ts"));
  for (const source of ["copyhash.c", "fault.c"])
    copyFileSync(join(REPO, "src/ffi/native", source), join(root, "src/ffi/native", source));
  const built = join(root, "build/native/libivsh-native.so");
  if (library) copyFileSync(library, built);
  else writeFileSync(built, "not a library");
  // Built after its sources, as `npm run build:native` leaves it.
  const later = new Date(Date.now() + 60_000);
  utimesSync(built, later, later);
  return { root, library: built, source: join(root, "src/ffi/native/copyhash.c") };
}

/** `nativeStatus().detail` in a child loading native.ts from `root`, IVSH_NATIVE unset unless `env` sets it. */
export async function nativeStatusIn(root: string, env: Record<string, string> = {}): Promise<string> {
  return (await nativeLoadIn(root, env)).status;
}

/**
 * `nativeStatus().detail` in a child loading native.ts from `root`, and how many mappings of root's built
 * library the child's /proc/self/maps holds after it: none once a library that is not used was closed.
 */
export async function nativeLoadIn(
  root: string,
  env: Record<string, string> = {},
): Promise<{ status: string; mappings: number }> {
  const library = join(root, "build/native/libivsh-native.so");
  const script = `import { readFileSync } from "node:fs";
import { nativeStatus } from ${JSON.stringify(join(root, "src/ffi/native.ts"))};
console.log(nativeStatus().detail);
const maps = readFileSync("/proc/self/maps", "utf8").split("\\n");
console.log(maps.filter((line) => line.endsWith(${JSON.stringify(` ${library}`)})).length);`;
  const { IVSH_NATIVE: _, ...inherited } = process.env;
  const child = tracked(
    Bun.spawn([process.execPath, "-e", script], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...inherited, ...env },
    }),
  );
  const said = Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text()]);
  expect(await exitOrKill(child, EXIT_BOUND_MS)).toBe(0);
  const [stdout, stderr] = await said;
  expect(stderr).toBe("");
  const [status = "", mappings = ""] = stdout.trim().split("\n");
  return { status, mappings: Number(mappings) };
}
