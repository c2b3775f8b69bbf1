/** `ivsh status`: what the arbiter holds, as text or JSON. */
import { arbiterEndpoint } from "../guest/connect-options.ts";
import { fetchStatus } from "../guest/inspect.ts";
import type { StatusReport } from "../host/status.ts";
import { formatBytes } from "../units.ts";
import { clientArgs, connectOptions, jsonArgs } from "./_args.ts";
import { defineLeafCommand } from "./_strict.ts";

export default defineLeafCommand({
  meta: {
    name: "status",
    description: "Show blocks, segments, clients per VM and condition variables of an arbiter",
  },
  args: { ...clientArgs, ...jsonArgs },
  async run({ args }) {
    // On the host this is the Unix socket; in a guest, the bridge (no region is mapped either way).
    const { report, self } = await fetchStatus(arbiterEndpoint(connectOptions(args, "ivsh status")));
    const others = withoutSelf(report, self);
    process.stdout.write(args.json ? `${JSON.stringify(others, null, 2)}\n` : renderStatus(others));
  },
});

/** The status query's own short session is not something the user asked about. */
function withoutSelf(report: StatusReport, self: number): StatusReport {
  return {
    ...report,
    clients: report.clients.filter((client) => client.clientId !== self),
    vms: report.vms
      .map((vm) => ({ ...vm, clients: vm.clients.filter((id) => id !== self) }))
      .filter((vm) => vm.clients.length > 0 || vm.blocksAllocated > 0),
  };
}

/** Only worth a line when something was found overwritten. */
function integrityLines(integrity: StatusReport["integrity"] | undefined): string[] {
  if (!integrity || integrity.repairs === 0) return [];
  return [
    `integrity: ${integrity.repairs} overwritten values put back in ${integrity.checks} checks; latest:`,
    ...integrity.findings
      .slice(-5)
      .map((finding) => `  ${new Date(finding.atMs).toISOString()} ${finding.what}`),
  ];
}

export function renderStatus(report: StatusReport): string {
  const { region, blocks } = report;
  const lines = [
    `arbiter pid ${report.arbiterPid}, epoch ${report.epoch}, lease ${report.leaseMs} ms`,
    `region ${region.path}: ${formatBytes(region.size)}, ${region.blockCount} blocks of ${formatBytes(region.blockSize)}, ${region.slotCount} slots`,
    `blocks: ${blocks.free} free, ${blocks.used} used of ${blocks.total}`,
    "",
    `VMs (${report.vms.length}):`,
    ...report.vms.map(
      (vm) => `  ${vm.vm}: clients ${vm.clients.join(", ") || "-"}; ${vm.blocksAllocated} blocks allocated`,
    ),
    `clients (${report.clients.length}):`,
    ...report.clients.map(
      (client) =>
        `  #${client.clientId} ${client.name} pid ${client.pid} vm ${client.vm} ` +
        `${client.connected ? `idle ${client.idleMs} ms` : "disconnected"}, ${client.grants} grants, ${client.blocksAllocated} blocks`,
    ),
    `segments (${report.segments.length}):`,
    ...report.segments.map(
      (segment) =>
        `  #${segment.id} ${segment.name || "(unnamed)"} blocks ${segment.firstBlock}+${segment.blockCount} ` +
        `(${formatBytes(segment.bytes)}), holders ${segment.holders.map((holder) => `#${holder.clientId} ${holder.mode}`).join(", ")}`,
    ),
    `synchronisation (${report.sync.length}):`,
    ...report.sync.map(
      (object) =>
        `  slot ${object.slot} ${object.kind} '${object.name}': held by ${object.lockOwner ? `#${object.lockOwner}` : "nobody"}` +
        `${object.ownerDied ? " (previous owner died)" : ""}, ${object.waiters} waiting, opened by ${object.holders.map((id) => `#${id}`).join(", ")}`,
    ),
    ...integrityLines(report.integrity),
  ];
  return `${lines.join("\n")}\n`;
}
