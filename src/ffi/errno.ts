/**
 * errno: its names, reading it after a failed call, and the error that carries it
 * (`mmap /dev/shm/ivsh: ENOMEM (Cannot allocate memory)`).
 */
import { read as readMemory } from "bun:ffi";
import { constants } from "node:os";
import { IvshError } from "../errors.ts";
import { libc } from "./libc.ts";

/** errno numbers and their names (from Node's table for this platform), so errors say `ENOMEM`, not `12`. */
const names = new Map<number, string>(Object.entries(constants.errno).map(([name, errno]) => [errno, name]));

/** The numbers the wrappers in ./index.ts compare errno with, from the same table. */
export const { EINTR, EAGAIN, EINVAL, ETIMEDOUT } = constants.errno;

export function errnoName(errno: number): string {
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
