/**
 * A VM booted with another region behind its IVSHMEM device than the one the arbiter behind its bridge
 * serves: a file of another size that no arbiter formatted, or the region of a second arbiter of the same
 * size. Nothing in the guest can fix either, so the guest's error must name its device and say what to
 * change on the host; `ivsh status` still answers, naming the file the arbiter serves.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { truncateSync } from "node:fs";
import { join } from "node:path";
import { type TestPaths, testPaths } from "../helpers/paths.ts";
import { ArbiterProcess } from "../helpers/processes.ts";
import { testWithTool, toolMissing } from "../helpers/tools.ts";
import { ensureBinary, Vm, vmName } from "./vm.ts";

// Each step prints "== NAME", the command's output, then "rc N".
const SCRIPT = `
step() { name=$1; shift; echo "== $name"; "$@" 2>&1; echo "rc $?"; }
echo hello > /tmp/file
step send ivsh guest send /tmp/file --timeout 20s
step json ivsh guest send /tmp/file --timeout 20s --json
step status ivsh status
echo "== end"
`;

let paths: TestPaths;
let otherPaths: TestPaths;
let arbiter: ArbiterProcess;
let other: ArbiterProcess;
const guests = new Map<string, Map<string, { output: string; rc: number }>>();

function parseSteps(text: string): Map<string, { output: string; rc: number }> {
  const steps = new Map<string, { output: string; rc: number }>();
  for (const block of text.split(/^== /m).slice(1)) {
    const [name = "", ...rest] = block.trimEnd().split("\n");
    const rc = Number(/^rc (\d+)$/.exec(rest.at(-1) ?? "")?.[1] ?? Number.NaN);
    steps.set(name, { output: rest.slice(0, -1).join("\n"), rc });
  }
  return steps;
}

async function boot(label: string, region: string): Promise<void> {
  const vm = Vm.launch({ name: vmName(label), script: SCRIPT, paths, region, timeoutS: 150 });
  const code = await vm.exited;
  await vm.events.finished;
  if (code !== 0) throw new Error(`the VM exited ${code}\n${await vm.diagnostics()}`);
  guests.set(label, parseSteps(vm.events.text));
}

beforeAll(async () => {
  if (toolMissing("qemu-system-x86_64")) return;
  await ensureBinary();
  paths = testPaths("vm-mismatch");
  otherPaths = testPaths("vm-mismatch-other");
  [arbiter, other] = await Promise.all([
    ArbiterProcess.start(paths, { size: "64MiB" }),
    ArbiterProcess.start(otherPaths, { size: "64MiB" }),
  ]);
  // A power of two QEMU takes, but no arbiter ever formatted it.
  const zeros = join(paths.shmDir, "zeros");
  await Bun.write(zeros, "");
  truncateSync(zeros, 4 << 20);
  await Promise.all([boot("zeros", zeros), boot("other", otherPaths.region)]);
}, 200_000);

afterAll(async () => {
  await Promise.all([arbiter?.stop(), other?.stop()]);
  paths?.cleanup();
  otherPaths?.cleanup();
});

function step(guest: string, name: string): { output: string; rc: number } {
  const found = guests.get(guest)?.get(name);
  if (!found) throw new Error(`no step '${name}' from VM '${guest}': ${JSON.stringify([...guests])}`);
  return found;
}

const HOST_FIX =
  /On the host, boot VM 't\d+-\w+' with the region file that arbiter serves behind its ivshmem device/;

testWithTool(
  "qemu-system-x86_64",
  "a device of another size than the arbiter's region: the guest is told its device is not that region",
  () => {
    const { output, rc } = step("zeros", "send");
    expect(rc).toBe(1);
    expect(output).toMatch(
      /this VM's IVSHMEM device \(PCI [0-9a-f:.]+, 4\.00 MiB\) with the arbiter at 10\.0\.2\.100:7777/,
    );
    expect(output).toContain("is not the region that arbiter serves (64.0 MiB, epoch 1)");
    expect(output).toContain("it holds no ivsh region (its first bytes are not the ivsh magic)");
    expect(output).toMatch(HOST_FIX);
    expect(output).toContain("launch.sh --region FILE");
    expect(output).not.toContain("pass the matching --region");
    const json = step("zeros", "json");
    expect(json.rc).toBe(1);
    expect(JSON.parse(json.output.split("\n").find((line) => line.startsWith("{")) ?? "{}").error.code).toBe(
      "RegionInvalid",
    );
  },
);

testWithTool(
  "qemu-system-x86_64",
  "a device holding a second arbiter's region of the same size: the guest is told which it holds",
  () => {
    const { output, rc } = step("other", "send");
    expect(rc).toBe(1);
    expect(output).toMatch(/this VM's IVSHMEM device \(PCI [0-9a-f:.]+, 64\.0 MiB\)/);
    expect(output).toMatch(
      /it holds the ivsh region of another arbiter or run \(64\.0 MiB, epoch 1, arbiter pid \d+\)/,
    );
    expect(output).toMatch(HOST_FIX);
  },
);

testWithTool("qemu-system-x86_64", "ivsh status in such a guest still names the arbiter's region", () => {
  for (const guest of ["zeros", "other"]) {
    const { output, rc } = step(guest, "status");
    expect(rc).toBe(0);
    expect(output).toContain(`region ${paths.region}: 64.0 MiB`);
  }
});
