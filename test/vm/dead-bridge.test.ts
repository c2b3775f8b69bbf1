/**
 * A VM whose bridge command dies at once without a word (here `false`; in life an ivsh too old for
 * `bridge`, or one that cannot start): QEMU accepts each guest connection itself, so the guest sees it
 * close during hello. `ivsh status`, which greets once, must say where to look, not only that it closed.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { truncateSync } from "node:fs";
import { type TestPaths, testPaths } from "../helpers/paths.ts";
import { testWithTool, toolMissing } from "../helpers/tools.ts";
import { ensureBinary, Vm, vmName } from "./vm.ts";

let paths: TestPaths;
let vm: Vm;

beforeAll(async () => {
  if (toolMissing("qemu-system-x86_64")) return;
  await ensureBinary();
  paths = testPaths("vm-dead-bridge");
  // A device, so that the guest's ivsh goes to the bridge (no arbiter: the bridge never gets that far).
  await Bun.write(paths.region, "");
  truncateSync(paths.region, 4 << 20);
}, 60_000);

afterAll(async () => {
  await vm?.stop();
  paths?.cleanup();
});

testWithTool(
  "qemu-system-x86_64",
  "ivsh status through a bridge command that dies at once names the address and the bridge command",
  async () => {
    vm = Vm.launch({
      name: vmName("dead-bridge"),
      paths,
      ivsh: "false",
      script: 'ivsh status 2>&1; echo "rc $?"',
      timeoutS: 150,
    });
    const code = await vm.exited;
    await vm.events.finished;
    if (code !== 0) throw new Error(`the VM exited ${code}\n${await vm.diagnostics()}`);
    const output = vm.events.text;
    expect(output).toContain("rc 1");
    expect(output).toContain(
      "Failed to greet the arbiter at 10.0.2.100:7777 since the connection closed before anything answered",
    );
    expect(output).toContain("the VM's guestfwd (`ivsh bridge --vm NAME --socket SOCKET`) fails to run");
  },
  180_000,
);
