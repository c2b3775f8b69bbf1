/**
 * `ivsh bench --scale`'s guest cases count the `ivsh bridge` processes still alive (their memory is part of
 * each connection's cost, and in hand-over mode any left alive fails the goal). They find them by command
 * line, which must match what launch.sh's guestfwd wrapper really runs.
 */
import { expect } from "bun:test";
import { join } from "node:path";
import { bridgesOf } from "../../src/bench/scale-guests.ts";
import { fetchStatus } from "../../src/guest/inspect.ts";
import { REPO } from "../helpers/paths.ts";
import { eventually } from "../helpers/processes.ts";
import { testWithTool } from "../helpers/tools.ts";
import { vmName, vmSuite } from "./vm.ts";

const suite = vmSuite("vm-scale-bridges");

testWithTool(
  "qemu-system-x86_64",
  "a relaying bridge of a launch.sh VM is found by the scale benchmark's process search",
  async () => {
    const name = vmName("scale-br");
    // Relaying (as the benchmark's relay mode asks): the bridge lives as long as the guest's connection.
    const ivsh = `env IVSH_BRIDGE=relay ${join(REPO, "dist/ivsh")}`;
    const script = "ivsh guest recv --channel held --out /dev/null";
    const vm = suite.launch({ name, ivsh, script, timeoutS: 150 });
    await eventually(
      async () => {
        if (vm.proc.exitCode !== null) throw new Error(`the VM exited ${vm.proc.exitCode} first`);
        const { report } = await fetchStatus({ unix: suite.paths.socket });
        return report.clients.some((client) => client.vm === name && client.connected);
      },
      150_000,
      `a connected client of VM '${name}'`,
    ).catch(async (error) => {
      throw new Error(`${error}\n${await vm.diagnostics()}`);
    });
    expect(bridgesOf([name]).length).toBeGreaterThanOrEqual(1);
  },
  180_000,
);
