/**
 * Two VMs on one arbiter at the same time, booted once for both tests: `ivsh status` names each VM with
 * its clients, then 64 MiB go from one guest to the other bit-exact.
 *
 * Each guest starts with a sender that waits for its receiver, so both hold a ring (blocks) while the
 * host looks at the status. The host then takes VM B's "park" stream, which lets B go on to receive
 * VM A's file.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { join } from "node:path";
import type { StatusReport } from "../../src/protocol/status-report.ts";
import { type TestPaths, testPaths } from "../helpers/paths.ts";
import { ArbiterProcess, runCli, type Spawned } from "../helpers/processes.ts";
import { testWithTool, toolMissing } from "../helpers/tools.ts";
import { guest } from "../helpers/transfer.ts";
import { ensureBinary, GUEST_PRELUDE, Vm, vmName } from "./vm.ts";

const BYTES = 64 << 20;
const STEP_MS = 150_000;

const SENDER = `${GUEST_PRELUDE}
head -c ${BYTES} /dev/urandom > /tmp/g2g.bin
ivsh guest send /tmp/g2g.bin --channel g2g; report g2g-sent $? /tmp/g2g.bin
`;
const RECEIVER = `${GUEST_PRELUDE}
echo "parked in $IVSH_VM" > /tmp/park
ivsh guest send /tmp/park --channel park; report parked $?
ivsh guest recv --channel g2g --out /tmp/g2g.bin; report g2g-received $? /tmp/g2g.bin
`;

let paths: TestPaths;
let arbiter: ArbiterProcess;
let sender: Vm;
let receiver: Vm;
let unpark: Spawned | undefined;

beforeAll(async () => {
  if (toolMissing("qemu-system-x86_64")) return;
  await ensureBinary();
  paths = testPaths("vm-two");
  arbiter = await ArbiterProcess.start(paths, { size: "64MiB" });
  sender = Vm.launch({ name: vmName("a"), script: SENDER, paths });
  receiver = Vm.launch({ name: vmName("b"), script: RECEIVER, paths });
}, 60_000);

afterAll(async () => {
  unpark?.proc.kill("SIGKILL");
  await Promise.all([sender?.stop(), receiver?.stop()]);
  await arbiter?.stop();
  paths?.cleanup();
});

async function status(): Promise<StatusReport> {
  const result = await runCli(["status", "--json", "--socket", paths.socket]);
  if (result.exitCode !== 0) throw new Error(`ivsh status failed: ${result.stderr}`);
  return JSON.parse(result.stdout) as StatusReport;
}

/** Whether `vm` is listed with a client of that VM holding blocks. */
function holding(report: StatusReport, vm: string): boolean {
  const entry = report.vms.find((candidate) => candidate.vm === vm);
  return (entry?.blocksAllocated ?? 0) > 0 && report.clients.some((client) => client.vm === vm);
}

testWithTool(
  "qemu-system-x86_64",
  "ivsh status shows each VM by name with its clients",
  async () => {
    try {
      const deadline = Date.now() + STEP_MS - 10_000;
      let report = await status();
      while (!(holding(report, sender.name) && holding(report, receiver.name)) && Date.now() < deadline) {
        if (sender.proc.exitCode !== null || receiver.proc.exitCode !== null) break;
        await Bun.sleep(250);
        report = await status();
      }
      for (const vm of [sender, receiver]) {
        const entry = report.vms.find((candidate) => candidate.vm === vm.name);
        if (!entry)
          throw new Error(`${vm.name} not in status: ${JSON.stringify(report)}\n${await vm.diagnostics()}`);
        expect(entry.blocksAllocated).toBeGreaterThan(0);
        const clients = report.clients.filter((client) => client.vm === vm.name);
        expect(clients.map((client) => client.clientId).sort()).toEqual([...entry.clients].sort());
        expect(clients.some((client) => client.name.startsWith("send ") && client.blocksAllocated > 0)).toBe(
          true,
        );
      }
      const text = await runCli(["status", "--socket", paths.socket]);
      for (const vm of [sender, receiver]) {
        expect(text.stdout).toMatch(
          new RegExp(`^  ${vm.name}: \\d+ clients? \\(#[\\d, #]+\\); \\d+ blocks? allocated$`, "m"),
        );
        expect(text.stdout).toMatch(new RegExp(`client #\\d+ send \\S+ pid \\d+ vm ${vm.name} `));
      }
    } finally {
      unpark = guest(paths, ["recv", "--channel", "park", "--out", join(paths.dir, "park")]);
    }
    expect(await unpark.proc.exited).toBe(0);
    expect(await Bun.file(join(paths.dir, "park")).text()).toBe(`parked in ${receiver.name}\n`);
  },
  STEP_MS,
);

testWithTool(
  "qemu-system-x86_64",
  "guest → guest: 64 MiB random file bit-exact across two VMs running at once",
  async () => {
    const [sent, received] = await Promise.all([
      sender.next("g2g-sent", STEP_MS),
      receiver.next("g2g-received", STEP_MS),
    ]);
    if (sent.rc !== 0 || received.rc !== 0)
      console.error(`guest → guest failed:\n${await sender.diagnostics()}\n${await receiver.diagnostics()}`);
    expect([sent.rc, received.rc]).toEqual([0, 0]);
    expect(received.bytes).toBe(BYTES);
    expect(received.sha256).toBe(sent.sha256 as string);
    expect(await Promise.all([sender.exited, receiver.exited])).toEqual([0, 0]);
  },
  STEP_MS,
);
