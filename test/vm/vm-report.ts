/**
 * What a test VM that is still running is doing, for a failure message: a whole-run failure said only
 * "no 'recv' within 150000 ms; output: (empty) (the VM is still running)", which told neither whether the
 * guest command had started nor what it or QEMU was doing. The guest's own view (its processes and their
 * kernel waits) comes from GUEST_SNAPSHOTS, printed on the guest command's stderr.
 */
import { readdirSync, readFileSync } from "node:fs";
import { fetchStatus } from "../../src/guest/inspect.ts";

/** How long the arbiter may take to answer the status request of a failure message. */
const STATUS_WAIT_MS = 5000;

export interface RunningVm {
  name: string;
  /** launch.sh's stderr so far: the guest command's stderr and the bridge's lines. */
  stderrSoFar: string;
  /** The guest console's file (launch.sh --console-log). */
  consoleLog: string;
  /** The arbiter socket the VM's bridge uses. */
  socket: string;
}

/** Everything that says what a running VM is doing; each part says so when it cannot be had. */
export async function runningReport(vm: RunningVm): Promise<string> {
  return [
    `(the VM is still running)`,
    `--- ${vm.name}: host processes (launch.sh, timeout, QEMU; state T = stopped) ---`,
    hostProcesses(vm.name),
    `--- ${vm.name}: launch.sh's stderr so far (the guest command's stderr, bridge lines) ---`,
    vm.stderrSoFar || "(nothing)",
    `--- ${vm.name}: guest console, last 30 lines (IVSH-RUN-BEGIN: the guest command started) ---`,
    consoleTail(vm.consoleLog),
    `--- ${vm.name}: the arbiter's view (its sessions, transfers and waits) ---`,
    await arbiterView(vm),
  ].join("\n");
}

/** Each host process of VM `name` (launch.sh's --name, QEMU's -name, timeout(1) running QEMU). */
function hostProcesses(name: string): string {
  const lines: string[] = [];
  for (const pid of readdirSync("/proc").filter((entry) => /^\d+$/.test(entry))) {
    try {
      const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
      const named = ["-name", "--name"].some((flag) => argv[argv.indexOf(flag) + 1] === name);
      if (!named) continue;
      const status = readFileSync(`/proc/${pid}/status`, "utf8");
      const state = /^State:\s*(.*)$/m.exec(status)?.[1] ?? "?";
      const ppid = /^PPid:\s*(\d+)$/m.exec(status)?.[1] ?? "?";
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const [pgrp, session] = stat
        .slice(stat.lastIndexOf(")") + 2)
        .split(" ")
        .slice(2, 4);
      const command = argv.slice(0, 3).join(" ");
      lines.push(`pid ${pid} ppid ${ppid} pgrp ${pgrp} session ${session} ${state}: ${command} ...`);
    } catch {
      // Gone meanwhile.
    }
  }
  return lines.length > 0 ? lines.join("\n") : "(none found)";
}

function consoleTail(path: string): string {
  try {
    const lines = readFileSync(path, "latin1").split("\n");
    return lines.slice(-31).join("\n") || "(empty: the guest has said nothing on its console yet)";
  } catch (error) {
    return `(not readable: ${(error as Error).message})`;
  }
}

/** The arbiter's sessions of this VM, its transfers and waits, or why there is no answer. */
async function arbiterView(vm: RunningVm): Promise<string> {
  const asked = fetchStatus({ unix: vm.socket }).then(
    ({ report }) =>
      JSON.stringify({
        clients: report.clients.filter((client) => client.vm === vm.name),
        transfers: report.transfers,
        sync: report.sync,
        blocks: report.blocks,
      }),
    (error: unknown) => `(no status: ${(error as Error).message})`,
  );
  const late = Bun.sleep(STATUS_WAIT_MS).then(
    () => `(the arbiter did not answer within ${STATUS_WAIT_MS} ms)`,
  );
  return Promise.race([asked, late]);
}

/**
 * Guest shell functions: `snapshots_every SECS` prints, every SECS seconds of the guest's clock, its
 * processes (state, kernel wait, stack of each ivsh thread) and the kernel log's tail on stderr, which
 * launch.sh --separate-stderr passes on as it comes. Run in the background beside a step that may hang
 * (a failure then shows them through Vm.diagnostics); a step that ends in time shows none.
 */
export const GUEST_SNAPSHOTS = `
snapshot() {
  echo "--- guest snapshot at uptime $(cut -d' ' -f1 /proc/uptime) s ---"
  ps -o pid,ppid,stat,args | awk '$1 != 2 && $2 != 2' | cut -c1-120
  for process in /proc/[0-9]*; do
    [ "$(cat "$process/comm" 2>/dev/null)" = ivsh ] || continue
    for task in "$process"/task/[0-9]*; do
      echo "$task ($(cat "$task/comm")): $(grep '^State' "$task/status") wchan=$(cat "$task/wchan")"
      sed -n 's/^\\[<0>\\] /    /p' "$task/stack" 2>/dev/null | head -n 3
    done
  done
  dmesg | tail -n 10
}
snapshots_every() {
  while sleep "$1"; do snapshot >&2; done
}
`;
