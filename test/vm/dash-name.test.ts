/**
 * A VM whose name starts with '-' (launch.sh and the arbiter both take it): its bridge must get the name
 * as the value of --vm, not as an option of its own, or every guest connection fails.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { join } from "node:path";
import { fetchStatus } from "../../src/guest/inspect.ts";
import { type TestPaths, testPaths } from "../helpers/paths.ts";
import { ArbiterProcess, eventually } from "../helpers/processes.ts";
import { testWithTool, toolMissing } from "../helpers/tools.ts";
import { guest } from "../helpers/transfer.ts";
import { ensureBinary, GUEST_PRELUDE, Vm, vmName } from "./vm.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let vm: Vm;

beforeAll(async () => {
  if (toolMissing("qemu-system-x86_64")) return;
  await ensureBinary();
  paths = testPaths("vm-dash-name");
  arbiter = await ArbiterProcess.start(paths, { size: "16MiB" });
}, 60_000);

afterAll(async () => {
  await vm?.stop();
  await arbiter?.stop();
  paths?.cleanup();
});

testWithTool(
  "qemu-system-x86_64",
  "a VM named '-…' reaches the arbiter under that name",
  async () => {
    const name = `-${vmName("dash")}`;
    const script = `${GUEST_PRELUDE}
echo "from $IVSH_VM" > /tmp/file
ivsh guest send /tmp/file --channel dash; report sent $?
`;
    vm = Vm.launch({ name, paths, script, timeoutS: 150 });
    // The guest's sender waits for its receiver: the arbiter lists it under the VM's name meanwhile.
    await eventually(
      async () => {
        if (vm.proc.exitCode !== null) throw new Error(`the VM exited ${vm.proc.exitCode} first`);
        return (await fetchStatus({ unix: paths.socket })).report.clients.some(
          (client) => client.vm === name,
        );
      },
      150_000,
      `a client of VM '${name}' in the arbiter's status`,
    ).catch(async (error) => {
      throw new Error(`${error}\n${await vm.diagnostics()}`);
    });
    const out = join(paths.dir, "file");
    const receiver = guest(paths, ["recv", "--channel", "dash", "--out", out]);
    expect(await receiver.exit(150_000)).toBe(0);
    expect(await Bun.file(out).text()).toBe(`from ${name}\n`);
    expect((await vm.next("sent", 60_000)).rc).toBe(0);
    expect(await vm.exited).toBe(0);
  },
  180_000,
);
