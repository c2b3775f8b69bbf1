/**
 * A VM whose ivshmem device is the arbiter's own region file, but with a QEMU size= smaller than the file:
 * its BAR holds the arbiter's header and only the start of the region. The guest must say that, and that
 * the fix is the size, not tell the operator to boot the VM with the file it already has.
 */
import { expect } from "bun:test";
import { testWithTool } from "../helpers/tools.ts";
import { vmName, vmSuite } from "./vm.ts";

const REGION_BYTES = 16 << 20;

const suite = vmSuite("vm-short-bar");

testWithTool(
  "qemu-system-x86_64",
  "a device mapping only half of the arbiter's region file: the guest names the size to give QEMU",
  async () => {
    const vm = suite.launch({
      name: vmName("short-bar"),
      region: "none",
      script: 'echo hi > /tmp/file; ivsh guest send /tmp/file --timeout 30s 2>&1; echo "rc $?"',
      timeoutS: 150,
      qemuArgs: [
        "-object",
        `memory-backend-file,id=half,share=on,mem-path=${suite.paths.region},size=${REGION_BYTES / 2}`,
        "-device",
        "ivshmem-plain,memdev=half",
      ],
    });
    const code = await vm.exited;
    await vm.events.finished;
    if (code !== 0) throw new Error(`the VM exited ${code}\n${await vm.diagnostics()}`);
    const output = vm.events.text;
    expect(output).toContain("rc 1");
    expect(output).toContain(
      "since the device maps only the first 8.00 MiB of the 16.0 MiB region that arbiter serves",
    );
    expect(output).toContain(`size=${REGION_BYTES}`);
    expect(output).not.toContain("it holds no ivsh region");
  },
  180_000,
);
