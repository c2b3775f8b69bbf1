/** src/guest/emulation.ts: when a guest's emulator makes cross-VM atomics unreliable, and only then. */
import { expect, test } from "bun:test";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { atomicsHazard } from "../src/guest/emulation.ts";
import { testPaths } from "./helpers/paths.ts";

const TCG = "processor\t: 0\nmodel name\t: QEMU TCG CPU version 2.5+\nflags\t\t: fpu hypervisor\n";
const KVM = "processor\t: 0\nmodel name\t: AMD EPYC 9R14 96-Core Processor\nflags\t\t: fpu hypervisor\n";

function guestFiles(cpuinfo: string | undefined, possible: string | undefined) {
  const paths = testPaths("emulation");
  const sysfsRoot = join(paths.dir, "sys");
  mkdirSync(join(sysfsRoot, "devices/system/cpu"), { recursive: true });
  const cpuinfoPath = join(paths.dir, "cpuinfo");
  if (cpuinfo !== undefined) writeFileSync(cpuinfoPath, cpuinfo);
  if (possible !== undefined) writeFileSync(join(sysfsRoot, "devices/system/cpu/possible"), possible);
  return { paths, files: { cpuinfo: cpuinfoPath, sysfsRoot } };
}

test.each([
  ["TCG, one possible vCPU", TCG, "0\n", true],
  ["TCG booted with maxcpus=2", TCG, "0-1\n", false],
  ["KVM, one possible vCPU", KVM, "0\n", false],
  ["no /proc/cpuinfo", undefined, "0\n", false],
  ["TCG, no sysfs", TCG, undefined, false],
])("%s", (_label, cpuinfo, possible, hazardous) => {
  const { paths, files } = guestFiles(cpuinfo, possible);
  try {
    const hazard = atomicsHazard(files);
    if (!hazardous) expect(hazard).toBeUndefined();
    else {
      expect(hazard).toContain("not atomic");
      expect(hazard).toContain("-accel tcg,thread=multi -smp 1,maxcpus=2");
    }
  } finally {
    paths.cleanup();
  }
});
