/**
 * A VM with two IVSHMEM devices, the arbiter's region behind the second: the guest maps the first and is
 * refused. Its error must name the other device and the flags that use it (which work), not only tell the
 * operator to boot the VM with the region it already has.
 */
import { expect } from "bun:test";
import { truncateSync } from "node:fs";
import { join } from "node:path";
import { testWithTool } from "../helpers/tools.ts";
import { guest } from "../helpers/transfer.ts";
import { GUEST_PRELUDE, vmName, vmSuite } from "./vm.ts";

const REGION_BYTES = 16 << 20;

// The first send is refused; the second takes the flags the refusal names.
const SCRIPT = `${GUEST_PRELUDE}
echo "second device" > /tmp/file
ivsh guest send /tmp/file --timeout 60s 2>/tmp/err; report first $?
cat /tmp/err
flags=$(sed -n 's/.* pass \\(--region [^ ]* --connect [^ ]*\\) .*/\\1/p' /tmp/err)
echo "flags: $flags"
ivsh guest send /tmp/file --channel second $flags; report second $?
`;

const suite = vmSuite("vm-two-devices");

testWithTool(
  "qemu-system-x86_64",
  "the arbiter's region on a second IVSHMEM device: the refusal names that device and the flags that use it",
  async () => {
    // The first device (launch.sh's) is a file no arbiter formatted; the arbiter's region comes after it.
    const zeros = join(suite.paths.shmDir, "zeros");
    await Bun.write(zeros, "");
    truncateSync(zeros, 4 << 20);
    const vm = suite.launch({
      name: vmName("two-dev"),
      region: zeros,
      script: SCRIPT,
      timeoutS: 200,
      qemuArgs: [
        "-object",
        `memory-backend-file,id=second,share=on,mem-path=${suite.paths.region},size=${REGION_BYTES}`,
        "-device",
        "ivshmem-plain,memdev=second",
      ],
    });
    expect((await vm.next("first", 150_000)).rc).toBe(1);
    const out = join(suite.paths.dir, "received");
    const receiver = guest(suite.paths, ["recv", "--channel", "second", "--out", out]);
    const second = await vm.next("second", 150_000);
    await vm.events.finished;
    const text = vm.events.text;
    expect(text).toMatch(/another IVSHMEM device, PCI [0-9a-f:.]+ \(16\.0 MiB\)/);
    expect(text).toMatch(
      /pass --region \/sys\/bus\/pci\/devices\/[0-9a-f:.]+\/resource2 --connect 10\.0\.2\.100:7777 /,
    );
    expect(second.rc).toBe(0);
    expect(await receiver.exit(60_000)).toBe(0);
    expect(await Bun.file(out).text()).toBe("second device\n");
  },
  240_000,
);
