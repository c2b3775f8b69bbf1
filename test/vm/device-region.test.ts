/**
 * A guest naming its device's resource file as --region (to pick one of several IVSHMEM devices, or one
 * mapping of it) still reaches the arbiter through the bridge, by its full path or relative to the
 * working directory (`cd` into the device's sysfs directory, then --region resource2): both were sent to
 * the host's default socket, which no guest has, and told that no IVSHMEM device was found.
 */
import { expect } from "bun:test";
import { join } from "node:path";
import { testWithTool } from "../helpers/tools.ts";
import { guest } from "../helpers/transfer.ts";
import { GUEST_PRELUDE, vmName, vmSuite } from "./vm.ts";

const suite = vmSuite("vm-device-region");

const SCRIPT = `${GUEST_PRELUDE}
device=$(dirname "$(grep -l 0x1110 /sys/bus/pci/devices/*/device | head -n1)")
echo "by resource file" > /tmp/full
ivsh guest send /tmp/full --channel by-file --region "$device/resource2" --timeout 30s; report full $?
echo "by relative path" > /tmp/relative
cd "$device" && ivsh guest send /tmp/relative --channel by-rel --region resource2 --timeout 30s; report relative $?
`;

testWithTool(
  "qemu-system-x86_64",
  "--region naming the device's resource2, full or relative: the guest goes to the bridge, no --connect needed",
  async () => {
    const vm = suite.launch({ name: vmName("dev-region"), script: SCRIPT, timeoutS: 150 });
    const receive = (channel: string, name: string) =>
      guest(suite.paths, ["recv", "--channel", channel, "--out", join(suite.paths.dir, name)]);
    const receivers = [receive("by-file", "full"), receive("by-rel", "relative")];
    try {
      for (const [event, text, receiver] of [
        ["full", "by resource file\n", receivers[0]!],
        ["relative", "by relative path\n", receivers[1]!],
      ] as const) {
        const sent = await vm.next(event, 120_000);
        if (sent.rc !== 0) throw new Error(`the guest's ${event} send failed\n${await vm.diagnostics()}`);
        expect(await receiver.exit(60_000)).toBe(0);
        expect(await Bun.file(join(suite.paths.dir, event)).text()).toBe(text);
      }
    } finally {
      for (const receiver of receivers) receiver.proc.kill("SIGKILL");
    }
  },
  180_000,
);
