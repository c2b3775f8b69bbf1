/**
 * src/ffi/native.ts's ABI check at its edges (openSymbols): a library of a newer ABI that has every
 * symbol this one binds is still not used (it may mean other things by them), and a library of this
 * ABI that lacks a symbol is reported as failing to load, with the loader's words, not as "ABI 5, needs
 * 5". Each case loads native.ts in a child, from a copy of the checkout's layout holding a stub library.
 */
import { afterAll, expect } from "bun:test";
import { mkdtempSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { nativeLayout, nativeLoadIn } from "./helpers/native-layout.ts";
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
  const { root, library: built } = nativeLayout(dir, name);
  const compile = Bun.spawnSync(["gcc", "-shared", "-fPIC", "-o", built, stub], { stderr: "pipe" });
  expect(compile.stderr.toString()).toBe("");
  const later = new Date(Date.now() + 60_000); // built after its sources, as a build leaves it
  utimesSync(built, later, later);
  return root;
}

testWithTool(
  "gcc",
  "a library of a newer ABI is not used, though it has every symbol this one binds; it is closed again",
  async () => {
    expect(await nativeLoadIn(layoutWith("abi6", 6))).toEqual({
      status: "portable (libivsh-native.so has ABI 6, this ivsh needs 5: rebuild it)",
      mappings: 0,
    });
  },
);

testWithTool(
  "gcc",
  "a library of this ABI lacking a symbol did not load: the loader's words, not its ABI; it is closed again",
  async () => {
    const loaded = await nativeLoadIn(layoutWith("abi5-short", 5, "ivsh_digest_pieces_from_file"));
    expect(loaded.status).toStartWith("portable (libivsh-native.so did not load: ");
    expect(loaded.status).toContain("ivsh_digest_pieces_from_file");
    expect(loaded.mappings).toBe(0); // its ABI was read from a second handle
  },
);
