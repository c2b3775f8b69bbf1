/**
 * The guest side of `ivsh bench --scale --vm` as a table: what each guest connection costs the host with
 * the bridge handing it over and with the bridge relaying it (src/bench/scale-guests.ts).
 */
import type { GuestConnectionsResult } from "./scale-guests.ts";

/** Per guest connection, host memory, as issue 11 asks. */
export const GUEST_CONNECTION_GOAL_MIB = 4;

const MiB = 1024 * 1024;
const mib = (bytes: number) => (bytes / MiB).toFixed(1);
const change = (before: number, after: number) =>
  `${mib(before)} → ${mib(after)} (${after >= before ? "+" : ""}${mib(after - before)})`;

function row(result: GuestConnectionsResult): string {
  const { arbiterBefore: before, arbiterAfter: after } = result;
  const perVm = result.perVm.map((vm) => vm.clients).join(" + ");
  const qemu = result.qemu.map((vm) => mib(vm.rssBytes)).join(", ");
  return [
    `${result.caseId}: ${result.vms} VM × ${result.clientsPerVm}`,
    result.mode,
    `${result.connected} (${perVm})`,
    String(result.bridges.count),
    `${mib(result.bridges.rssBytes)} (anon ${mib(result.bridges.rssAnonBytes)}, PSS ${mib(result.bridges.pssBytes)})`,
    change(before.rssBytes, after.rssBytes),
    change(before.rssAnonBytes, after.rssAnonBytes),
    mib(result.hostBytesPerConnection),
    mib((result.bridges.pssBytes + after.rssBytes - before.rssBytes) / Math.max(result.connected, 1)),
    qemu,
  ].join(" | ");
}

export function renderGuestConnections(results: readonly GuestConnectionsResult[], seconds: number): string {
  const handover = results.filter((result) => result.mode === "handover");
  const worst = Math.max(...handover.map((result) => result.hostBytesPerConnection));
  const verdict =
    handover.length === 0
      ? ""
      : `Goal ≤ ${GUEST_CONNECTION_GOAL_MIB} MiB of host memory per guest connection, no relay process: ` +
        `${worst / MiB <= GUEST_CONNECTION_GOAL_MIB && handover.every((result) => result.bridges.count === 0) ? "pass" : "**FAIL**"} ` +
        `(${mib(worst)} MiB, ${Math.max(...handover.map((result) => result.bridges.count))} bridges alive).\n`;
  return [
    `## Guest connections, host side (accel ${results[0]?.accel ?? "?"}, ${seconds.toFixed(0)} s)`,
    "",
    "MiB; RSS = VmRSS, anon = RssAnon, PSS from smaps_rollup. QEMU's memory is per VM, not per connection.",
    "",
    "| case | bridge | connected (per VM) | `ivsh bridge` alive | bridges' RSS | arbiter RSS before → after | arbiter RssAnon before → after | host MiB per connection | same with bridges' PSS | QEMU RSS per VM |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...results.map((result) => `| ${row(result)} |`),
    "",
    verdict,
  ].join("\n");
}
