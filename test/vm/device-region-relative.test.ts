/**
 * A guest naming its device's resource file relative to the working directory (`cd` into the device's
 * sysfs directory, then --region resource2) reaches the arbiter through the bridge, as with the full
 * path: it was sent to the host's default socket, which no guest has.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { join } from "node:path";
import { type TestPaths, testPaths } from "../helpers/paths.ts";
import { ArbiterProcess } from "../helpers/processes.ts";
import { testWithTool, toolMissing } from "../helpers/tools.ts";
import { guest } from "../helpers/transfer.ts";
import { ensureBinary, GUEST_PRELUDE, Vm, vmName } from "./vm.ts";

const SCRIPT = `${GUEST_PRELUDE}
device=$(dirname "$(grep -l 0x1110 /sys/bus/pci/devices/*/device | head -n1)")
echo "by relative path" > /tmp/file
cd "$device" && ivsh guest send /tmp/file --channel by-rel --region resource2 --timeout 30s; report sent $?
`;

let paths: TestPaths;
let arbiter: ArbiterProcess;
let vm: Vm;

beforeAll(async () => {
  if (toolMissing("qemu-system-x86_64")) return;
  await ensureBinary();
  paths = testPaths("vm-device-region-rel");
  arbiter = await ArbiterProcess.start(paths, { size: "16MiB" });
}, 60_000);

afterAll(async () => {
  await vm?.stop();
  await arbiter?.stop();
  paths?.cleanup();
});

testWithTool(
  "qemu-system-x86_64",
  "--region resource2 in the device's directory: the guest goes to the bridge, as with the full path",
  async () => {
    vm = Vm.launch({ name: vmName("dev-region-rel"), paths, script: SCRIPT, timeoutS: 150 });
    const out = join(paths.dir, "received");
    const receiver = guest(paths, ["recv", "--channel", "by-rel", "--out", out]);
    try {
      const sent = await vm.next("sent", 120_000);
      if (sent.rc !== 0) throw new Error(`the guest's send failed\n${await vm.diagnostics()}`);
      expect(await receiver.exit(60_000)).toBe(0);
      expect(await Bun.file(out).text()).toBe("by relative path\n");
    } finally {
      receiver.proc.kill("SIGKILL");
    }
  },
  180_000,
);
