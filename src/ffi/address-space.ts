/**
 * This process's address space: its limit (ulimit -v), and a mapping it had no room for (mmap's ENOMEM)
 * in words, which reached the user as "mmap /dev/shm/ivsh: ENOMEM (Cannot allocate memory)". The limit is
 * read from /proc/self/limits, which needs no libc call: ./jit.ts asks it with the JIT off.
 */
import { readFileSync } from "node:fs";
import { formatBytes } from "../units.ts";

/** The soft limit on this process's address space in bytes, or undefined when it has none. */
export function addressSpaceLimit(): number | undefined {
  try {
    const line = /^Max address space\s+(\S+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return line && line[1] !== "unlimited" ? Number(line[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** The address space this process has mapped (VmSize) in bytes, or undefined if it cannot be read. */
function addressSpaceUsed(): number | undefined {
  try {
    const line = /^VmSize:\s+(\d+) kB/m.exec(readFileSync("/proc/self/status", "utf8"));
    return line ? Number(line[1]) * 1024 : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why an mmap of `bytes` failed with ENOMEM, and what to do: the reason of "Failed to map X since". The
 * limit is blamed only when the mapping would pass it: ENOMEM also says the kernel's count of mappings is
 * used up (vm.max_map_count), where raising ulimit -v would change nothing.
 */
export function noAddressSpace(bytes: number): string {
  const limit = addressSpaceLimit();
  const used = limit === undefined ? undefined : addressSpaceUsed();
  const what = `its ${formatBytes(bytes)}`;
  return limit !== undefined && (used === undefined || used + bytes > limit)
    ? `this process's address space has no room for ${what} (ENOMEM, ulimit -v ${Math.floor(limit / 1024)} KiB): raise the limit (ulimit -v unlimited)`
    : `the kernel had no room to map ${what} (ENOMEM: too many mappings for vm.max_map_count, or memory short)`;
}
