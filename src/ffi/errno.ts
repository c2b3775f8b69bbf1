/**
 * errno: its names, reading it after a failed call, and the error that carries it
 * (`madvise /dev/shm/ivsh: EINVAL (Invalid argument)`; where a user can act on one, its caller says more:
 * NoRoomToMap for an mmap, src/region/region-size.ts for a region past ulimit -f).
 */
import { read as readMemory } from "bun:ffi";
import { IvshError } from "../errors.ts";
import { noAddressSpace } from "./address-space.ts";
import { libc } from "./libc.ts";

/**
 * errno numbers and their names (from Node's table for this platform), so errors say `ENOMEM`, not `12`.
 * Read on the first failure: loading node:os cost every command ~0.15 ms of its start.
 */
let names: Map<number, string> | undefined;

/**
 * The numbers the wrappers in ./index.ts compare errno with: Linux's, the same on every architecture ivsh
 * runs on (test/ffi.test.ts checks them against Node's table).
 */
export const EPERM = 1;
export const EINTR = 4;
export const EAGAIN = 11;
export const EEXIST = 17;
export const EINVAL = 22;
export const ENOMEM = 12;
export const ENOSYS = 38;
export const ETIMEDOUT = 110;
export const EINPROGRESS = 115;

export function errnoName(errno: number): string {
  names ??= new Map(
    Object.entries((require("node:os") as typeof import("node:os")).constants.errno).map(([name, value]) => [
      value,
      name,
    ]),
  );
  return names.get(errno) ?? `errno ${errno}`;
}

export class SystemCallError extends IvshError {
  constructor(
    readonly call: string,
    readonly target: string,
    readonly errno: number,
  ) {
    super("SystemCall", `${call} ${target}: ${errnoName(errno)} (${String(libc.strerror(errno))})`);
  }
  get errnoName(): string {
    return errnoName(this.errno);
  }
}

/**
 * An mmap that found no room (ENOMEM), in words with the limit to raise (./address-space.ts): still a
 * SystemCallError for whoever looks at its errno.
 */
export class NoRoomToMap extends SystemCallError {
  constructor(target: string, bytes: number) {
    super("mmap", target, ENOMEM);
    this.message = `Failed to map ${target} since ${noAddressSpace(bytes)}`;
  }
}

/**
 * errno's name behind a failure, whoever raised it: our own system calls (SystemCallError) or node:fs
 * (its `code`); "" for anything else.
 */
export function errnoOf(error: unknown): string {
  if (error instanceof SystemCallError) return error.errnoName;
  const code = (error as { code?: unknown } | null | undefined)?.code;
  return typeof code === "string" ? code : "";
}

export function lastErrno(): number {
  const location = libc.__errno_location();
  return location === null ? 0 : readMemory.i32(location, 0);
}

export function check(result: number, call: string, target: string): number {
  if (result < 0) throw new SystemCallError(call, target, lastErrno());
  return result;
}
