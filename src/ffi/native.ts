/**
 * The optional native helper: XXH3-64 with the copy fused into the same AVX2 pass (native/copyhash.c),
 * and the explanation of a fault in shared memory this process holds no grant for (native/fault.c).
 * Everything works without it (the digest is the same, the sender slower; such a fault is reported by
 * Bun's crash handler instead), so loading never throws: `nativeStatus()` says what is in use and, if it
 * is not the helper, why.
 *
 * Where it comes from: embedded in the compiled `ivsh` (scripts/build.ts adds it to `bun build
 * --compile`); in a source checkout, build/native/, built by `npm install` or `npm run build:native`.
 * IVSH_NATIVE=0 turns it off (the portable path is what a machine without a C compiler or AVX2 runs).
 */

import { dlopen, FFIType } from "bun:ffi";
import { existsSync, realpathSync, statSync } from "node:fs";
import { join, sep } from "node:path";

/** What the helper must report from ivsh_native_abi(): its exports and results as this file expects them. */
const ABI = 5;
const NATIVE_LIBRARY = "libivsh-native.so";
/** What ivsh_digest_pieces_from_file returns when its source could not be read (native/fault.c). */
const SOURCE_LOST = 2n ** 64n - 1n;

const REPO = join(import.meta.dir, "../..");
const SOURCES = ["copyhash.c", "fault.c"].map((name) => join(REPO, "src/ffi/native", name));
export const BUILT_LIBRARY = join(REPO, "build/native", NATIVE_LIBRARY);
/**
 * What builds it: in a checkout, its script; in a package, npm's rebuild of it where it was installed: a
 * global install's (`npm rebuild ivsh` answers "rebuilt dependencies successfully" there and builds
 * nothing) is the one npm linked <prefix>/bin/ivsh to, from <prefix>/lib/node_modules/ivsh.
 */
function buildIt(): string {
  if (!REPO.split(sep).includes("node_modules")) return "run `npm run build:native`";
  const withCompiler = "with gcc installed or CC set";
  let global = false;
  try {
    global = realpathSync(join(REPO, "../../../bin/ivsh")) === realpathSync(join(REPO, "bin/ivsh.mjs"));
  } catch {} // no such link: a project's node_modules
  return global
    ? `run \`npm rebuild -g ivsh\` (ivsh is installed globally), ${withCompiler}`
    : `run \`npm rebuild ivsh\` in the project that installed ivsh, ${withCompiler}`;
}

export interface NativeHash {
  /**
   * The digest's loop over `length` bytes at `source` in pieces of `pieceBytes` (src/transfer/digest.ts),
   * with the u64 state at `stateAddress` read and updated; with a `destination` (not overlapping) the
   * bytes are copied there in the same pass (`hashCopy`: hashing only what was copied, never re-reading
   * the source). It stops before a last piece of 240 bytes or less and returns how many bytes it did.
   */
  digestPieces(
    destination: number | null,
    source: number,
    length: number,
    pieceBytes: number,
    stateAddress: number,
    hashCopy?: boolean,
  ): number;
  /**
   * `digestPieces` with a destination, from memory mapped from a file: undefined instead of the count when
   * the source's pages could not be read (the file was truncated meanwhile, or its storage failed); the
   * state is then unchanged and the destination holds part of the copy. Absent where it cannot be made safe.
   */
  copyFromFile?(
    destination: number,
    source: number,
    length: number,
    pieceBytes: number,
    stateAddress: number,
  ): number | undefined;
}

export interface NativeStatus {
  readonly active: boolean;
  /** "native AVX2 copy+hash (embedded)" or "(build/native)", or "portable (why)". */
  readonly detail: string;
}

/** Registers mapped regions so a fault inside one is explained (see native/fault.c). */
export interface FaultGuard {
  /** False if the helper's table of regions is full (the fault is then Bun's to report). */
  guard(base: number, length: number, label: string): boolean;
  unguard(base: number): void;
}

interface Loaded {
  hash: NativeHash | undefined;
  faults: FaultGuard | undefined;
  status: NativeStatus;
  /** The CPU is QEMU's TCG emulator (native/copyhash.c `ivsh_native_tcg`); false without the helper. */
  tcg?: boolean;
}

let loaded: Loaded | undefined;

/** The helper, if it loaded and this CPU can run it. */
export function nativeHash(): NativeHash | undefined {
  loaded ??= load();
  return loaded.hash;
}

/** The fault explainer, if the helper loaded (it needs no AVX2). */
export function nativeFaultGuard(): FaultGuard | undefined {
  loaded ??= load();
  return loaded.faults;
}

/** Whether this CPU is QEMU's TCG emulator, as its hypervisor CPUID leaf says (false without the helper). */
export function nativeTcg(): boolean {
  loaded ??= load();
  return loaded.tcg === true;
}

export function nativeStatus(): NativeStatus {
  loaded ??= load();
  return loaded.status;
}

function portable(why: string, faults?: FaultGuard): Loaded {
  return { hash: undefined, faults, status: { active: false, detail: `portable (${why})` } };
}

function load(): Loaded {
  const setting = process.env.IVSH_NATIVE?.toLowerCase();
  if (setting === "0" || setting === "off") return portable(`IVSH_NATIVE=${process.env.IVSH_NATIVE}`);
  const found = locate();
  if (typeof found === "string") return portable(found);
  try {
    return open(found.path, found.origin);
  } catch (error) {
    return portable(`${NATIVE_LIBRARY} did not load: ${(error as Error).message}`);
  }
}

/** Where the library is, or why there is none to use. */
function locate(): { path: string; origin: string } | string {
  const embedded = Bun.embeddedFiles.find((file) => embeddedName(file).startsWith("libivsh-native"));
  // Bun's dlopen understands its own embedded-file paths (it extracts the library for the loader).
  if (embedded) return { path: `/$bunfs/root/${embeddedName(embedded)}`, origin: "embedded" };
  if (import.meta.dir.includes("$bunfs"))
    return "this ivsh was built without the helper: there was no C compiler";
  if (!existsSync(BUILT_LIBRARY)) return `${BUILT_LIBRARY} is not built: ${buildIt()}`;
  const newer = SOURCES.find(
    (source) => existsSync(source) && statSync(source).mtimeMs > statSync(BUILT_LIBRARY).mtimeMs,
  );
  if (newer) return `${BUILT_LIBRARY} is older than ${newer}: ${buildIt()}`;
  return { path: BUILT_LIBRARY, origin: "build/native" };
}

function embeddedName(file: Blob): string {
  return (file as Blob & { name?: string }).name ?? "";
}

/**
 * The helper's library; or, where it lacks a symbol, its ABI alone: a library of another ABI may lack
 * symbols this one needs, and dlopen would fail on the first missing one instead of saying which ABI it is.
 * The handle the ABI was read from is closed again (only ivsh_native_abi was called: nothing of it is in use).
 */
function openLibrary(path: string) {
  const { u64, u64_fast, i32, ptr } = FFIType;
  try {
    return dlopen(path, {
      ivsh_native_abi: { args: [], returns: i32 },
      ivsh_native_usable: { args: [], returns: i32 },
      ivsh_native_tcg: { args: [], returns: i32 },
      ivsh_digest_pieces: { args: [ptr, ptr, u64, u64, ptr, i32], returns: u64_fast },
      ivsh_guard_region: { args: [u64, u64, ptr], returns: i32 },
      ivsh_unguard_region: { args: [u64], returns: FFIType.void },
      ivsh_file_copy_ready: { args: [], returns: i32 },
      ivsh_digest_pieces_from_file: { args: [ptr, ptr, u64, u64, ptr], returns: u64 },
    });
  } catch (error) {
    const alone = dlopen(path, { ivsh_native_abi: { args: [], returns: i32 } });
    const abi = alone.symbols.ivsh_native_abi();
    alone.close();
    if (abi === ABI) throw error;
    return abi;
  }
}

function open(path: string, origin: string): Loaded {
  const library = openLibrary(path);
  const abi = typeof library === "number" ? library : library.symbols.ivsh_native_abi();
  if (typeof library === "number" || abi !== ABI) {
    // Not used: closed before any of its code (its fault handler) could be in place.
    if (typeof library !== "number") library.close();
    return portable(`${NATIVE_LIBRARY} has ABI ${abi}, this ivsh needs ${ABI}: rebuild it`);
  }
  const { symbols } = library;
  const faults: FaultGuard = {
    // The label as a NUL-terminated string; the helper copies it during the call.
    guard: (base, length, label) => symbols.ivsh_guard_region(base, length, Buffer.from(`${label}\0`)) === 0,
    unguard: (base) => symbols.ivsh_unguard_region(base),
  };
  const tcg = symbols.ivsh_native_tcg() === 1;
  if (symbols.ivsh_native_usable() !== 1) return { ...portable("this CPU has no AVX2", faults), tcg };
  const hash: NativeHash = {
    digestPieces: (destination, source, length, pieceBytes, stateAddress, hashCopy = false) =>
      Number(
        symbols.ivsh_digest_pieces(destination, source, length, pieceBytes, stateAddress, hashCopy ? 1 : 0),
      ),
  };
  // The handler that lets a copy survive its file's truncation must be in place before any such copy.
  if (symbols.ivsh_file_copy_ready() === 0)
    hash.copyFromFile = (destination, source, length, pieceBytes, stateAddress) => {
      const done = symbols.ivsh_digest_pieces_from_file(
        destination,
        source,
        length,
        pieceBytes,
        stateAddress,
      );
      return done === SOURCE_LOST ? undefined : Number(done);
    };
  return { hash, faults, tcg, status: { active: true, detail: `native AVX2 copy+hash (${origin})` } };
}
