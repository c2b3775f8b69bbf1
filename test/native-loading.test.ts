/**
 * When the native helper is not loaded (src/ffi/native.ts), and what `nativeStatus` then says: turned off by
 * IVSH_NATIVE, a library older than its sources, a library of another ABI. Each case runs native.ts in a
 * child, from a copy of the checkout's layout (src/ffi, build/native) in a temporary directory, as it
 * decides once per process from files beside it.
 */
import { afterAll, expect, test } from "bun:test";
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO } from "./helpers/paths.ts";
import { testWithTool } from "./helpers/tools.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-native-loading-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A checkout's layout under `dir/name`: native.ts, its C sources, and `library` as the built helper (by
 * default a file that is no library: these cases decide before loading it, and the checkout may have none).
 */
function layout(name: string, library?: string): { root: string; library: string; source: string } {
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

async function statusIn(root: string, env: Record<string, string> = {}): Promise<string> {
  const script = `import { nativeStatus } from ${JSON.stringify(join(root, "src/ffi/native.ts"))};
console.log(nativeStatus().detail);`;
  const { IVSH_NATIVE: _, ...inherited } = process.env;
  const child = Bun.spawn([process.execPath, "-e", script], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...inherited, ...env },
  });
  const [exitCode, stdout, stderr] = await Promise.all([
    child.exited,
    new Response(child.stdout).text(),
    new Response(child.stderr).text(),
  ]);
  expect(stderr).toBe("");
  expect(exitCode).toBe(0);
  return stdout.trim();
}

test("IVSH_NATIVE=off (in any case) keeps the portable path, saying so", async () => {
  const { root } = layout("off");
  expect(await statusIn(root)).not.toContain("IVSH_NATIVE");
  expect(await statusIn(root, { IVSH_NATIVE: "Off" })).toBe("portable (IVSH_NATIVE=Off)");
  expect(await statusIn(root, { IVSH_NATIVE: "0" })).toBe("portable (IVSH_NATIVE=0)");
});

test("a library older than one of its sources is not loaded: the status says which and how to rebuild", async () => {
  const { root, library, source } = layout("stale");
  const earlier = new Date(Date.now() - 60_000);
  utimesSync(library, earlier, earlier);
  expect(await statusIn(root)).toBe(
    `portable (${library} is older than ${source}: run \`npm run build:native\`)`,
  );
});

testWithTool(
  "gcc",
  "a library of another ABI is not used: the status names both ABIs",
  async () => {
    const stub = join(dir, "abi3.c");
    const symbols = ["ivsh_native_usable", "ivsh_native_tcg", "ivsh_digest_pieces", "ivsh_guard_region"]; // not ABI 5's
    writeFileSync(
      stub,
      `int ivsh_native_abi(void) { return 3; }\n${symbols.map((name) => `int ${name}(void) { return 1; }\n`).join("")}void ivsh_unguard_region(void) {}\n`,
    );
    const built = join(dir, "abi3.so");
    const compile = Bun.spawnSync(["gcc", "-shared", "-fPIC", "-o", built, stub], { stderr: "pipe" });
    expect(compile.stderr.toString()).toBe("");
    const { root } = layout("abi3", built);
    expect(await statusIn(root)).toBe(
      "portable (libivsh-native.so has ABI 3, this ivsh needs 5: rebuild it)",
    );
  },
  30_000,
);
