/**
 * "Guests at scale" (docs/bench/scale.md): the host memory each idle guest connection (an `ivsh guest recv`)
 * costs, its bridge handing it over or relaying it; case A one VM × 20 clients, B two × 10 (the difference:
 * a second VM). A fresh arbiter per case and mode; bridges alive and the arbiter's growth count, QEMU apart.
 */
import { readdirSync, readFileSync } from "node:fs";
import { failure } from "../errors.ts";
import { fetchStatus } from "../guest/inspect.ts";
import type { StatusReport } from "../protocol/status-report.ts";
import { channelSlotName } from "../region/layout.ts";
import { BenchArbiter } from "./arbiter.ts";
import { type Child, withChildren } from "./child.ts";
import { BRIDGE_MODES, type BridgeMode, RUN_TAG, startVm, type VmTools } from "./vm-launch.ts";

export const GUEST_CASES = [
  { id: "A", vms: 1, clientsPerVm: 20 },
  { id: "B", vms: 2, clientsPerVm: 10 },
] as const;
export type GuestCase = (typeof GUEST_CASES)[number];

export type ProcessMemory = ReturnType<typeof processMemory>;

/** One case in one bridge mode (measureOne says what each field is). */
export type GuestConnectionsResult = Awaited<ReturnType<typeof measureOne>>;

export interface GuestConnectionsOptions {
  readonly cases?: readonly GuestCase[];
  readonly modes?: readonly BridgeMode[];
  readonly progress?: (message: string) => void;
}

/** 20 bun processes need more than launch.sh's default 1 GiB next to the 110 MiB binary in the initramfs. */
const GUEST_MEM = "2G";
/** Two vCPUs so that 20 bun start-ups under TCG take half as long; the host has two cores either way. */
const GUEST_SMP = "2";
/** launch.sh's own stop, in case this process dies without stopping its VMs. */
const VM_TIMEOUT_S = 480;
const CASE_TIMEOUT_MS = 420_000;
/** The clients' share of it; the rest is for the measurement and stopping the VMs. */
const CONNECT_TIMEOUT_MS = 390_000;
/** Status lists long enough for every client and channel of a case (and the bench's own). */
const STATUS_LIMIT = 200;
const POLL_MS = 1000;
/** Samples in a row with the same bridge count before measuring (relay bridges start, hand-over ones exit). */
const STABLE_SAMPLES = 3;
const STOP_TIMEOUT_MS = 15_000;

/** Every case in every bridge mode, one after the other (all of a case's VMs at once), each on a fresh arbiter. */
export async function measureGuestConnections(
  tools: VmTools,
  options: GuestConnectionsOptions = {},
): Promise<GuestConnectionsResult[]> {
  const results: GuestConnectionsResult[] = [];
  for (const guestCase of options.cases ?? GUEST_CASES)
    for (const mode of options.modes ?? BRIDGE_MODES) {
      const what = `${guestCase.vms} VM × ${guestCase.clientsPerVm} guest clients`;
      options.progress?.(`case ${guestCase.id} (${what}), ${mode}`);
      results.push(await measureOne(tools, guestCase, mode));
    }
  return results;
}

async function measureOne(tools: VmTools, guestCase: GuestCase, mode: BridgeMode) {
  const spec = { blockBytes: 64 * 1024, label: `guests ${guestCase.id} ${mode}` };
  return BenchArbiter.with(spec, async (arbiter) => {
    const endpoint = { unix: arbiter.socket };
    // One status request first, so its code and buffers are in "before" too, not counted per guest.
    await fetchStatus(endpoint);
    await Bun.sleep(POLL_MS);
    const arbiterBefore = processMemory(arbiter.pid);
    const prefix = `g${RUN_TAG}${guestCase.id}${mode[0]}`;
    const names = Array.from({ length: guestCase.vms }, (_, index) => `${prefix}${index}`);
    const expected = guestCase.vms * guestCase.clientsPerVm;
    const action = `measure ${expected} guest connections (case ${guestCase.id}, ${mode})`;
    return await withChildren(action, CASE_TIMEOUT_MS, async (children) => {
      const vms = names.map((name) =>
        startVm(children, tools, arbiter, {
          name,
          label: `guest VM ${name}`,
          options: ["--mem", GUEST_MEM, "--smp", GUEST_SMP, "--timeout", String(VM_TIMEOUT_S), "--quiet"],
          run: guestScript(name, guestCase.clientsPerVm),
          bridge: mode,
        }),
      );
      try {
        await untilConnected(endpoint, vms, names, guestCase.clientsPerVm, action);
        const bridges = await settledBridges(names);
        const qemus = names.map((name) => qemuOf(name, action));
        const arbiterAfter = processMemory(arbiter.pid);
        // Asked after the reading, so this request's own session is not in the arbiter's "after".
        const { report } = await fetchStatus(endpoint, STATUS_LIMIT);
        const connected = report.totals.connected - 1;
        return {
          ...{ caseId: guestCase.id, mode, vms: guestCase.vms, clientsPerVm: guestCase.clientsPerVm },
          // "kvm" or "tcg", from QEMU's command line.
          accel: qemus[0]?.accel ?? "unknown",
          // Connected sessions the arbiter reports, and per VM, its sessions as the arbiter lists them.
          connected,
          perVm: names.map((vm) => ({ vm, clients: connectedIn(report, vm) })),
          // The `ivsh bridge --vm` processes of these VMs alive once every client is connected.
          ...{ bridges, arbiterBefore, arbiterAfter },
          // Per VM: QEMU's own resident memory (not a per-connection cost).
          qemu: qemus.map((qemu, index) => ({ vm: names[index]!, ...processMemory(qemu.pid) })),
          // (bridges' RSS + the arbiter's RSS growth) / connected.
          hostBytesPerConnection:
            (bridges.rssBytes + arbiterAfter.rssBytes - arbiterBefore.rssBytes) / Math.max(connected, 1),
        };
      } finally {
        // SIGTERM makes launch.sh stop QEMU and remove its files; waited for, so the next case starts clean.
        await Promise.all(vms.map((vm) => vm.stop(STOP_TIMEOUT_MS)));
      }
    });
  });
}

/**
 * VM `name`'s script: `clients` receivers, one per channel NAME-cI, kept up by `wait` while they wait for a
 * sender. One that exits (it failed: none ends on its own) ends the script at once, so the VM exits with its
 * words rather than stay up for the others until the case's bound. busybox ash has no `wait -n`: the
 * client's subshell signals the script, whose trap ends it (a trapped signal interrupts `wait`).
 */
export function guestScript(name: string, clients: number): string {
  const client = `ivsh guest recv --channel ${name}-c$i --out /dev/null`;
  const watched = `(${client}; echo "${client} exited with code $?" >&2; kill $$ 2>/dev/null)`;
  return `trap 'exit 1' TERM; for i in $(seq 1 ${clients}); do ${watched} & done; wait`;
}

function connectedIn(report: StatusReport, vm: string): number {
  return report.clients.filter((client) => client.vm === vm && client.connected).length;
}

/**
 * Polls the arbiter until every VM has its clients connected; a VM that exits first is an error (its last
 * words are the failed client's). Bounded short of the case's own bound, so that what is missing is said.
 */
export async function untilConnected(
  endpoint: { unix: string },
  vms: readonly Child[],
  names: readonly string[],
  perVm: number,
  action: string,
): Promise<void> {
  const deadline = Date.now() + CONNECT_TIMEOUT_MS;
  for (;;) {
    const exited = vms.find((vm) => vm.exited);
    if (exited) {
      const words = firstClientExit(await exited.saidLines());
      throw failure("PeerGone", action, `the ${exited.label} exited before its clients connected: ${words}`);
    }
    const { report } = await fetchStatus(endpoint, STATUS_LIMIT);
    if (names.every((name) => connectedIn(report, name) >= perVm)) return;
    if (Date.now() > deadline)
      throw failure(
        "Timeout",
        action,
        `not every guest client connected within ${CONNECT_TIMEOUT_MS / 1000} s: ${missingClients(report, names, perVm)}`,
      );
    await Bun.sleep(POLL_MS);
  }
}

/**
 * What the first guest client to exit said, from a VM's stderr: its lines up to its "exited with code"
 * line (guestScript's), the last five of them, and how many more exited before the VM stopped (their lines
 * come after, or among them); of a VM that ended otherwise, its last five lines.
 */
export function firstClientExit(lines: readonly string[]): string {
  const exits = lines.filter((line) => EXIT_LINE.test(line));
  const first = lines.findIndex((line) => EXIT_LINE.test(line));
  if (first < 0) return lines.slice(-5).join(" | ");
  const more = exits.length > 1 ? ` (${exits.length - 1} more exited before the VM stopped)` : "";
  return lines.slice(Math.max(0, first - 4), first + 1).join(" | ") + more;
}

const EXIT_LINE = /^ivsh guest recv .* exited with code \d+$/;

/** Per VM short of its clients: how many are connected, and the channels no receiver has opened. */
export function missingClients(report: StatusReport, names: readonly string[], perVm: number): string {
  const opened = new Set(report.sync.map((object) => object.name));
  return names
    .filter((name) => connectedIn(report, name) < perVm)
    .map((name) => {
      const channels = Array.from({ length: perVm }, (_, index) => `${name}-c${index + 1}`);
      const unopened = channels.filter((channel) => !opened.has(channelSlotName(channel)));
      const which =
        unopened.length > 0
          ? `${unopened.length === 1 ? "channel" : "channels"} ${unopened.join(", ")} not opened`
          : "every channel opened";
      return `VM ${name} has ${connectedIn(report, name)} of ${perVm} clients connected (${which})`;
    })
    .join("; ");
}

/** Bridges once their number stops changing: relaying ones appear with their connection, handing-over ones exit. */
async function settledBridges(vms: readonly string[]): Promise<{ count: number } & ProcessMemory> {
  let pids = bridgesOf(vms);
  for (let same = 1; same < STABLE_SAMPLES; ) {
    await Bun.sleep(POLL_MS);
    const next = bridgesOf(vms);
    same = next.length === pids.length ? same + 1 : 1;
    pids = next;
  }
  // A bridge may still exit between the last sample and this read: it is then not counted.
  const memory = pids.flatMap((pid) => {
    try {
      return [processMemory(pid)];
    } catch {
      return [];
    }
  });
  const total = (key: keyof ProcessMemory) => memory.reduce((sum, each) => sum + each[key], 0);
  return {
    count: memory.length,
    rssBytes: total("rssBytes"),
    rssAnonBytes: total("rssAnonBytes"),
    pssBytes: total("pssBytes"),
  };
}

/** The QEMU process of VM `name` (launch.sh passes `-name NAME`), and its accelerator. */
function qemuOf(name: string, action: string): { pid: number; accel: string } {
  const [pid] = processesWhere(
    (argv) => !!argv[0]?.includes("qemu-system") && argv[argv.indexOf("-name") + 1] === name,
  );
  if (pid === undefined) throw failure("NotFound", action, `VM ${name} has no QEMU process`);
  const argv = commandLine(pid);
  return { pid, accel: argv[argv.indexOf("-accel") + 1]?.split(",")[0] ?? "unknown" };
}

/** `ivsh bridge --vm=NAME` processes, by command line: guestfwd double-forks, so none is QEMU's child. */
export function bridgesOf(vms: readonly string[]): number[] {
  return processesWhere((argv) => argv.includes("bridge") && vms.includes(vmArgument(argv) ?? ""));
}

/** The bridge's --vm value, given as `--vm NAME` or, as launch.sh's wrapper passes it, `--vm=NAME`. */
function vmArgument(argv: readonly string[]): string | undefined {
  const at = argv.indexOf("--vm");
  if (at >= 0) return argv[at + 1];
  return argv.find((word) => word.startsWith("--vm="))?.slice("--vm=".length);
}

/** Live (not zombie) processes whose argv passes `test`. */
function processesWhere(test: (argv: string[]) => boolean): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .map(Number)
    .filter((pid) => test(commandLine(pid)) && alive(pid));
}

/** `/proc/PID/FILE`, or "" once the process is gone. */
function procFile(pid: number, file: string): string {
  try {
    return readFileSync(`/proc/${pid}/${file}`, "utf8");
  } catch {
    return "";
  }
}

const commandLine = (pid: number) => procFile(pid, "cmdline").split("\0");
const alive = (pid: number) => procFile(pid, "stat").split(") ")[1]?.startsWith("Z") === false;

/** A process's resident bytes: all, anonymous only (without the shared text), and proportional (PSS). */
function processMemory(pid: number) {
  return { ...residentMemory(pid), pssBytes: kibField(pid, "smaps_rollup", "Pss") * 1024 };
}

/** The first two of those: cheap enough to sample a busy process (smaps_rollup walks its page tables). */
export function residentMemory(pid: number) {
  return {
    rssBytes: kibField(pid, "status", "VmRSS") * 1024,
    rssAnonBytes: kibField(pid, "status", "RssAnon") * 1024,
  };
}

function kibField(pid: number, file: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(procFile(pid, file));
  if (!match)
    throw failure("SystemCall", `read the memory of process ${pid}`, `/proc/${pid}/${file} has no ${field}`);
  return Number(match[1]);
}
