/**
 * The native helper's TCG probe (copyhash.c `ivsh_native_tcg`, CPUID leaf 0x40000000) says "not TCG" where
 * the CPU is not QEMU's emulator: a wrong "TCG" sends every received file through a pipe (src/ffi/splice.ts).
 * Told independently: no hypervisor flag means bare metal; a kvm-clock clocksource means KVM, which TCG
 * does not offer. Under TCG itself (or a hypervisor neither rules out) there is nothing to compare with.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { nativeStatus, nativeTcg } from "../src/ffi/native.ts";

function readOrEmpty(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return "";
  }
}

/** Why this machine is known not to run under TCG, or undefined if that cannot be told here. */
function notTcgBecause(): string | undefined {
  const flags = readOrEmpty("/proc/cpuinfo").match(/^flags\s*:(.*)$/m)?.[1] ?? "";
  if (flags !== "" && !flags.split(/\s+/).includes("hypervisor")) return "no hypervisor flag";
  const clocks = readOrEmpty("/sys/devices/system/clocksource/clocksource0/available_clocksource");
  if (clocks.split(/\s+/).includes("kvm-clock")) return "a kvm-clock clocksource (KVM)";
  return undefined;
}

test("the helper's TCG probe says not TCG on a CPU known not to be QEMU's emulator", () => {
  const because = notTcgBecause();
  if (!because) return void console.log("skipped: cannot tell here whether this CPU is TCG's");
  if (!nativeStatus().detail.startsWith("native"))
    return void console.log(`skipped: the native helper is not in use (${nativeStatus().detail})`);
  expect(`${because}: ${nativeTcg()}`).toBe(`${because}: false`);
});
