/**
 * A VM whose name starts with '-' (launch.sh and the arbiter both take it): its bridge must get the name
 * as the value of --vm, not as an option of its own, or every guest connection fails.
 */
import { expect } from "bun:test";
import { join } from "node:path";
import { fetchStatus } from "../../src/guest/inspect.ts";
import { eventually } from "../helpers/processes.ts";
import { testWithTool } from "../helpers/tools.ts";
import { guest } from "../helpers/transfer.ts";
import { GUEST_PRELUDE, vmName, vmSuite } from "./vm.ts";

const suite = vmSuite("vm-dash-name");

testWithTool(
  "qemu-system-x86_64",
  "a VM named '-…' reaches the arbiter under that name",
  async () => {
    const name = `-${vmName("dash")}`;
    const script = `${GUEST_PRELUDE}
echo "from $IVSH_VM" > /tmp/file
ivsh guest send /tmp/file --channel dash; report sent $?
`;
    const vm = suite.launch({ name, script, timeoutS: 150 });
    // The guest's sender waits for its receiver: the arbiter lists it under the VM's name meanwhile.
    await eventually(
      async () => {
        if (vm.proc.exitCode !== null) throw new Error(`the VM exited ${vm.proc.exitCode} first`);
        return (await fetchStatus({ unix: suite.paths.socket })).report.clients.some(
          (client) => client.vm === name,
        );
      },
      150_000,
      `a client of VM '${name}' in the arbiter's status`,
    ).catch(async (error) => {
      throw new Error(`${error}\n${await vm.diagnostics()}`);
    });
    const out = join(suite.paths.dir, "file");
    const receiver = guest(suite.paths, ["recv", "--channel", "dash", "--out", out]);
    expect(await receiver.exit(150_000)).toBe(0);
    expect(await Bun.file(out).text()).toBe(`from ${name}\n`);
    expect((await vm.next("sent", 60_000)).rc).toBe(0);
    expect(await vm.exited).toBe(0);
  },
  180_000,
);
