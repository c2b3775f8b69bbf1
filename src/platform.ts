/**
 * Where ivsh runs: its system calls are Linux x86-64's (its libc.so.6, its mmap flags, and syscall(202),
 * which is futex there but accept(2) on arm64). Anywhere else it would call the wrong things.
 */
import { failure, type IvshError } from "./errors.ts";

/** Why ivsh cannot run here, or undefined on Linux x86-64. */
export function unsupportedPlatform(): IvshError | undefined {
  if (process.platform === "linux" && process.arch === "x64") return undefined;
  return failure(
    "SystemCall",
    "load ivsh",
    `it runs only on Linux x86-64, and this is ${process.platform} ${process.arch} (its system calls are Linux x86-64's): run it on an x86-64 Linux host or VM`,
  );
}
