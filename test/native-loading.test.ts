/**
 * When the native helper is not loaded (src/ffi/native.ts), and what `nativeStatus` then says: turned off by
 * IVSH_NATIVE, a library older than its sources, a library of another ABI. Each case runs native.ts in a
 * child, from a copy of the checkout's layout (src/ffi, build/native) in a temporary directory, as it
 * decides once per process from files beside it.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nativeLayout, nativeLoadIn, nativeStatusIn } from "./helpers/native-layout.ts";
import { testWithTool } from "./helpers/tools.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-native-loading-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("IVSH_NATIVE=off (in any case) keeps the portable path, saying so", async () => {
  const { root } = nativeLayout(dir, "off");
  expect(await nativeStatusIn(root)).not.toContain("IVSH_NATIVE");
  expect(await nativeStatusIn(root, { IVSH_NATIVE: "Off" })).toBe("portable (IVSH_NATIVE=Off)");
  expect(await nativeStatusIn(root, { IVSH_NATIVE: "0" })).toBe("portable (IVSH_NATIVE=0)");
});

test("a library older than one of its sources is not loaded: the status says which and how to rebuild", async () => {
  const { root, library, source } = nativeLayout(dir, "stale");
  const earlier = new Date(Date.now() - 60_000);
  utimesSync(library, earlier, earlier);
  expect(await nativeStatusIn(root)).toBe(
    `portable (${library} is older than ${source}: run \`npm run build:native\`)`,
  );
});

testWithTool(
  "gcc",
  "a library of another ABI is not used: the status names both ABIs, and the library is closed again",
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
    const { root } = nativeLayout(dir, "abi3", built);
    // It lacks ABI 5's symbols: its ABI is read from a second handle, once left open (5 mappings).
    expect(await nativeLoadIn(root)).toEqual({
      status: "portable (libivsh-native.so has ABI 3, this ivsh needs 5: rebuild it)",
      mappings: 0,
    });
  },
  30_000,
);
