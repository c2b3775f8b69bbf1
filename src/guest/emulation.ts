/**
 * Whether this guest's atomic instructions are atomic against other VMs and the host. Under QEMU's TCG
 * emulator they are only in parallel mode, which QEMU turns on for multi-threaded TCG when the machine
 * has more than one *possible* vCPU; with one, a `lock cmpxchg` or `lock xadd` becomes a plain load and
 * store (measured: 3 973 of 4 000 000 Atomics.add lost against a host process's). Every lock and condvar
 * word is then unreliable across the VM boundary. The guest can tell TCG by its CPU's model name (QEMU's
 * `-cpu max` under TCG) and the possible vCPUs from sysfs; under KVM the instructions are the hardware's.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";

export interface EmulationPaths {
  /** Default /proc/cpuinfo. */
  readonly cpuinfo?: string;
  /** Default /sys; the possible vCPUs are in devices/system/cpu/possible. */
  readonly sysfsRoot?: string;
}

const TCG_MODEL = "QEMU TCG CPU";

/** Why cross-VM atomics are broken here and what to do about it, or undefined when nothing says so. */
export function atomicsHazard(paths: EmulationPaths = {}): string | undefined {
  // The sysfs file first: /proc/cpuinfo takes the kernel milliseconds to produce (under TCG 5-10 ms of
  // every guest command's start), and is only needed for a guest with one possible vCPU.
  const possible = readOrEmpty(join(paths.sysfsRoot ?? "/sys", "devices/system/cpu/possible")).trim();
  if (possible !== "0") return undefined;
  const model = readOrEmpty(paths.cpuinfo ?? "/proc/cpuinfo");
  if (!model.includes(TCG_MODEL)) return undefined;
  return (
    "this guest runs under QEMU's TCG emulator with one possible vCPU, where its atomic instructions are " +
    "not atomic against the host or other VMs: cross-VM locks and condition variables can be taken twice " +
    "or lose wake-ups. Boot it with `-accel tcg,thread=multi -smp 1,maxcpus=2` (scripts/qemu/launch.sh in ivsh's source repository does)."
  );
}

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return ""; // no /proc or /sys (a minimal guest): nothing says TCG
  }
}
