/**
 * A VM's QEMU frozen (SIGSTOP, as a paused VM) past the lease, or killed outright, while the host sends
 * to a receiver in it. The host sender must fail naming its dead receiver, the arbiter must release what
 * the VM held, and the guest's receiver, once it runs again, must fail saying its lease expired and why,
 * keeping no file under its final name.
 *
 * No timing guesses: the host feeds its sender 4 MiB through a pipe it keeps open, waits until the
 * arbiter reports them streamed, then acts; each outcome is waited for as the arbiter reports it.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { readdirSync, readFileSync } from "node:fs";
import { basename } from "node:path";
import { fetchStatus } from "../../src/guest/inspect.ts";
import type { StatusReport } from "../../src/protocol/status-report.ts";
import { type TestPaths, testPaths } from "../helpers/paths.ts";
import { ArbiterProcess, type Spawned } from "../helpers/processes.ts";
import { testWithTool, toolMissing } from "../helpers/tools.ts";
import { guest } from "../helpers/transfer.ts";
import { ensureBinary, GUEST_PRELUDE, Vm, vmName } from "./vm.ts";
import { GUEST_SNAPSHOTS } from "./vm-report.ts";

const FED = 4 << 20;
const BOUND_MS = 150_000;

let paths: TestPaths;
let arbiter: ArbiterProcess;
const vms: Vm[] = [];
const senders: Spawned[] = [];

beforeAll(async () => {
  if (toolMissing("qemu-system-x86_64")) return;
  await ensureBinary();
  paths = testPaths("vm-qemu-faults");
  arbiter = await ArbiterProcess.start(paths, { size: "64MiB", lease: "2s" });
}, 60_000);

afterAll(async () => {
  for (const sender of senders) sender.proc.kill("SIGKILL");
  await Promise.all(vms.map((vm) => vm.stop()));
  await arbiter?.stop();
  paths?.cleanup();
});

/** The guest's snapshots (every 20 s of recv) say, should it not end, what it and the guest were doing. */
function receiverScript(channel: string): string {
  return `${GUEST_PRELUDE}${GUEST_SNAPSHOTS}
snapshots_every 20 &
watching=$!
ivsh guest recv --channel ${channel} --out /tmp/x; rc=$?
kill $watching
report recv $rc
[ -e /tmp/x ] && report final-file-exists 0
report partial 0 /tmp/x.partial
`;
}

/** The pid of the QEMU that launch.sh started for VM `name` (its command line has `-name NAME`). */
function qemuPid(name: string): number {
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, "latin1").split("\0");
    } catch {
      continue;
    }
    const at = args.indexOf("-name");
    if (basename(args[0] ?? "").startsWith("qemu-system") && at > 0 && args[at + 1] === name)
      return Number(entry);
  }
  throw new Error(`no QEMU process for VM ${name}`);
}

async function status(): Promise<StatusReport> {
  return (await fetchStatus({ unix: paths.socket })).report;
}

async function until(what: string, check: (report: StatusReport) => boolean): Promise<void> {
  const deadline = Date.now() + BOUND_MS;
  for (;;) {
    const report = await status();
    if (check(report)) return;
    if (Date.now() > deadline) throw new Error(`${what} did not happen: ${JSON.stringify(report)}`);
    await Bun.sleep(100);
  }
}

/** Boots a VM receiving on `channel` and a host sender feeding it FED bytes; resolves once they streamed. */
async function streaming(label: string, channel: string): Promise<{ vm: Vm; sender: Spawned }> {
  const vm = Vm.launch({ name: vmName(label), script: receiverScript(channel), paths });
  vms.push(vm);
  const sender = guest(paths, ["send", "-", "--channel", channel]);
  senders.push(sender);
  sender.proc.stdin.write(crypto.getRandomValues(new Uint8Array(FED)));
  // Not awaited: the pipe takes 64 KiB and the sender reads the rest as it streams. A sender that dies
  // (as each test here makes it) while some is unread fails this flush with EPIPE: an unhandled rejection
  // failed whichever test ran then (CI, once); its exit code and stderr are what the tests judge.
  Promise.resolve(sender.proc.stdin.flush()).catch(() => {});
  await until(`streaming to ${vm.name}`, (report) =>
    report.transfers.some((t) => t.channel === channel && t.receiver !== 0 && t.bytes >= FED),
  ).catch(async (error) => {
    throw new Error(`${error}\n${await vm.diagnostics()}`);
  });
  return { vm, sender };
}

const released = (vm: Vm) => (report: StatusReport) =>
  report.blocks.used === 0 && !report.clients.some((client) => client.vm === vm.name);

testWithTool(
  "qemu-system-x86_64",
  "a VM paused past the lease mid-transfer: the host sender fails, the VM's blocks come back, the guest says why",
  async () => {
    const { vm, sender } = await streaming("paused", "paused");
    const qemu = qemuPid(vm.name);
    process.kill(qemu, "SIGSTOP");
    try {
      await until("the paused VM's session expiring", released(vm));
      expect(await sender.exit(BOUND_MS)).toBe(1);
      expect(await sender.stderr).toMatch(/the receiver \(client \d+\) died/);
    } finally {
      process.kill(qemu, "SIGCONT");
    }
    const recv = await vm.next("recv", BOUND_MS);
    expect(recv.rc).toBe(1);
    // What arrived may or may not have been written out before the pause: at most FILE.partial, never FILE.
    const partial = await vm.next("partial", BOUND_MS);
    expect(Number(partial.bytes ?? 0)).toBeLessThanOrEqual(FED);
    expect(vm.events.text).not.toContain("final-file-exists");
    expect(await vm.exited).toBe(0);
    const guestStderr = await vm.stderr;
    expect(guestStderr).toContain("(lease expired)");
    expect(guestStderr).toContain("the process, or its VM, was stopped, paused or starved of CPU");
  },
  BOUND_MS * 2,
);

testWithTool(
  "qemu-system-x86_64",
  "a VM's QEMU killed -9 mid-transfer: the host sender fails at once naming its receiver, the VM's blocks come back",
  async () => {
    const { vm, sender } = await streaming("killed", "killed");
    process.kill(qemuPid(vm.name), "SIGKILL");
    expect(await sender.exit(BOUND_MS)).toBe(1);
    expect(await sender.stderr).toMatch(/the receiver \(client \d+\) died/);
    await until("the killed VM's session ending", released(vm));
    // launch.sh: the guest gave no result, saying how QEMU ended in its own words (not bash's job
    // notice "launch.sh: line N: PID Killed timeout -s TERM ...", with "QEMU exit 137" after it).
    expect(await vm.exited).toBe(125);
    const said = await vm.stderr;
    expect(said).toContain(`launch.sh: ${vm.name}: the guest gave no result (QEMU killed by SIGKILL, after `);
    expect(said).not.toMatch(/line \d+: +\d+ Killed/);
  },
  BOUND_MS * 2,
);
