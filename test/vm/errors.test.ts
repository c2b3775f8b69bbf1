/**
 * A guest whose defaults cannot work says which part is missing and how to fix it. One boot without the
 * ivshmem device, with the bridge pointed at a socket no arbiter serves.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { join } from "node:path";
import { type TestPaths, testPaths } from "../helpers/paths.ts";
import { testWithTool, toolMissing } from "../helpers/tools.ts";
import { ensureBinary, Vm, vmName } from "./vm.ts";

// Each step prints "== NAME", the command's stderr, then "rc N".
const SCRIPT = `
step() { name=$1; shift; echo "== $name"; "$@" 2>&1; echo "rc $?"; }
echo hello > /tmp/file
step no-device ivsh guest send /tmp/file
head -c 1048576 /dev/zero > /tmp/region
step no-arbiter ivsh guest send /tmp/file --region /tmp/region --connect 10.0.2.100:7777
step wrong-port env IVSH_CONNECT=10.0.2.100:7778 ivsh guest send /tmp/file --region /tmp/region
echo "== end"
`;

let paths: TestPaths;
let vm: Vm;
const steps = new Map<string, { output: string; rc: number }>();

beforeAll(async () => {
  if (toolMissing("qemu-system-x86_64")) return;
  await ensureBinary();
  paths = testPaths("vm-errors");
  vm = Vm.launch({
    name: vmName("err"),
    script: SCRIPT,
    paths,
    region: "none",
    socket: join(paths.dir, "nobody.sock"),
    timeoutS: 120,
  });
  const code = await vm.exited;
  await vm.events.finished;
  if (code !== 0) throw new Error(`the VM exited ${code}\n${await vm.diagnostics()}`);
  for (const block of vm.events.text.split(/^== /m).slice(1)) {
    const [name = "", ...rest] = block.trimEnd().split("\n");
    const rc = Number(/^rc (\d+)$/.exec(rest.at(-1) ?? "")?.[1] ?? Number.NaN);
    steps.set(name, { output: rest.slice(0, -1).join("\n"), rc });
  }
}, 150_000);

afterAll(async () => {
  await vm?.stop();
  paths?.cleanup();
});

function step(name: string): { output: string; rc: number } {
  const found = steps.get(name);
  if (!found) throw new Error(`no step '${name}' in the guest's output:\n${vm.events.text}`);
  return found;
}

testWithTool("qemu-system-x86_64", "no IVSHMEM device: the error says so and how to attach one", () => {
  const { output, rc } = step("no-device");
  expect(rc).toBe(1);
  expect(output).toMatch(/no IVSHMEM device \(PCI 1af4:1110 .*\/sys\/bus\/pci\/devices\)/);
  expect(output).toContain("-device ivshmem-plain");
});

testWithTool(
  "qemu-system-x86_64",
  "no arbiter behind the bridge: the guest fails, the bridge says why",
  async () => {
    const { output, rc } = step("no-arbiter");
    expect(rc).toBe(1);
    expect(output).toMatch(/arbiter/);
    expect(await vm.stderr).toMatch(
      new RegExp(`\\[bridge ${vm.name}\\] .*found none on .*nobody\\.sock: no socket exists there`),
    );
  },
);

testWithTool(
  "qemu-system-x86_64",
  "IVSH_CONNECT overrides the default address, and the error names it",
  () => {
    const { output, rc } = step("wrong-port");
    expect(rc).toBe(1);
    expect(output).toContain("10.0.2.100:7778");
    expect(output).toContain("pass --connect");
    // What the VM needs on the host, not only "the bridge", which a new user has not heard of.
    expect(output).toContain("guestfwd=tcp:10.0.2.100:7778-cmd:");
    expect(output).toContain("ivsh bridge --vm NAME");
  },
);
