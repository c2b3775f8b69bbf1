/** `ivsh status`: what the arbiter holds, as text or JSON. */
import { type Stats, statSync } from "node:fs";
import { resolve } from "node:path";
import { failure } from "../errors.ts";
import { arbiterEndpoint } from "../guest/connect-options.ts";
import { fetchStatus } from "../guest/inspect.ts";
import { escapeControls, log, writeStandard } from "../log.ts";
import { HOST_VM } from "../protocol/messages.ts";
import type { StatusReport } from "../protocol/status-report.ts";
import { channelOfSlotName } from "../region/layout.ts";
import { formatBytes, formatDuration, formatRate, parseCount, plural } from "../units.ts";
import { checkFlag, clientArgs, connectOptions, jsonArgs } from "./_args.ts";
import { EXIT_PROBLEMS, onStopSignals } from "./_exit.ts";
import { errorFields } from "./_progress.ts";
import { defineLeafCommand } from "./_strict.ts";

const DEFAULT_LIMIT = 100;

export default defineLeafCommand({
  meta: {
    name: "status",
    description: "Show an arbiter's blocks, segments, clients per VM, locks and transfers in progress",
  },
  args: {
    ...clientArgs,
    ...jsonArgs,
    check: {
      type: "boolean",
      description:
        "Exit 3 (not 0) if the arbiter answered naming problems or a journal outage, each also on stderr (1: no answer)",
    },
    limit: {
      type: "string",
      description: "Show at most N segments, clients and sync objects (0: totals only)",
      default: String(DEFAULT_LIMIT),
      valueHint: "N",
    },
  },
  async run({ args }) {
    try {
      const limit = checkFlag(() => statusLimit(args.limit));
      // On the host this is the Unix socket; in a guest, the bridge (no region is mapped either way).
      const options = connectOptions(args, "ivsh status");
      const endpoint = arbiterEndpoint(options);
      // One more than asked: our own session is in the list and is taken out below.
      // Interrupted while waiting (its arbiter stopped, say), it says so, as send and recv do: it died of
      // the signal without a word. Only while waiting: a listener left installed kept a status blocked
      // writing to a stalled pipe (where no listener runs) from ending on any signal.
      const interrupted = new AbortController();
      const stopListening = onStopSignals((signal) => interrupted.abort(`it was interrupted by ${signal}`), {
        once: true,
      });
      const asked = limit === 0 ? 0 : limit + 1;
      const { report } = await fetchStatus(
        endpoint,
        asked,
        interrupted.signal,
        undefined,
        options.sysfsRoot,
      ).finally(stopListening);
      if ("unix" in endpoint) warnOtherRegion(args.region, report.region.path, endpoint.unix);
      const others = withoutSelf(report, limit);
      writeStandard(
        1,
        args.json ? `${JSON.stringify(withInstanceHex(others), null, 2)}\n` : renderStatus(others),
      );
      if (args.check) process.exitCode = checked(others);
    } catch (error) {
      // A script reading --json gets JSON either way, as from send and recv; stderr and the exit code say it too.
      try {
        if (args.json) writeStandard(1, `${JSON.stringify({ error: errorFields(error) })}\n`);
      } catch {
        // A stdout that cannot take it (closed, full): the error itself is what stderr reports.
      }
      throw error;
    }
  },
});

/**
 * status asks the arbiter at --socket and maps no region: a --region that arbiter does not serve was
 * ignored without a word, and the user read another region's status as the one they had named.
 */
function warnOtherRegion(given: string | undefined, served: string, socket: string): void {
  if (given === undefined || sameFile(given, served)) return;
  log.warn(
    `--region ${given} is not the region of the arbiter at ${socket} (it serves ${served}): ivsh status shows the arbiter --socket names; pass the --socket of ${given}'s arbiter to see that one`,
  );
}

function sameFile(one: string, other: string): boolean {
  if (resolve(one) === resolve(other)) return true;
  const a = statOrNothing(one);
  const b = statOrNothing(other);
  return a !== undefined && b !== undefined && a.dev === b.dev && a.ino === b.ino;
}

/** A path stat cannot look up (ENOTDIR, EACCES, ELOOP) names no file here: a warning, not a failed status. */
function statOrNothing(path: string): Stats | undefined {
  try {
    return statSync(path, { throwIfNoEntry: false });
  } catch {
    return undefined;
  }
}

/** The most --limit can be: the request carries it, plus our own session, as a 32-bit count. */
const MAX_LIMIT = 2 ** 32 - 2;

function statusLimit(text: string): number {
  const accepts = `from 0 to ${MAX_LIMIT}`;
  const limit = parseCount(text, "--limit", { allowZero: true, accepts });
  if (limit > MAX_LIMIT)
    throw failure("InvalidArgument", `use --limit ${text}`, `it must be ${accepts} (0: totals only)`);
  return limit;
}

/** The status query's own short session is not something the user asked about. */
function withoutSelf(report: StatusReport, limit: number): StatusReport {
  const { totals, requester: self } = report;
  // Asked without a session (the arbiter could not record one): there is nothing of ours to take out.
  const ours = self.clientId === 0 ? 0 : 1;
  const vms = report.vms
    .map((vm) => ({
      ...vm,
      clients: vm.clients.filter((id) => id !== self.clientId).slice(0, limit),
      clientCount: vm.clientCount - (vm.vm === self.vm ? ours : 0),
      ...(vm.connections === undefined
        ? {}
        : { connections: vm.connections - (vm.vm === self.vm ? ours : 0) }),
    }))
    .filter((vm) => vm.clientCount > 0 || vm.blocksAllocated > 0);
  // Our own VM counts as a VM only because of this query, unless it has other clients or blocks.
  const ownVmGone = ours === 1 && self.vmClients === 1 && self.vmBlocksAllocated === 0;
  return {
    ...report,
    totals: {
      ...totals,
      clients: totals.clients - ours,
      connected: totals.connected - ours,
      vms: totals.vms - (ownVmGone ? 1 : 0),
      transfers: totals.transfers ?? report.transfers?.length ?? 0,
    },
    // Asked for one more than the limit, so the lists without our own session still hold `limit`.
    segments: report.segments
      .slice(0, limit)
      .map((segment) => ({ ...segment, holders: segment.holders.slice(0, limit) })),
    sync: report.sync
      .slice(0, limit)
      .map((object) => ({ ...object, holders: object.holders.slice(0, limit) })),
    // An arbiter older than the transfers' total listed them all (up to the limit asked): as many as listed.
    transfers: (report.transfers ?? []).slice(0, limit),
    clients: report.clients.filter((client) => client.clientId !== self.clientId).slice(0, limit),
    vms: vms.slice(0, limit),
  };
}

/** "  … 99 900 more (ivsh status --limit N)" when a list was cut. */
function more(shown: number, total: number): string[] {
  return total > shown ? [`  … ${total - shown} more (raise --limit to list them)`] : [];
}

/** "channel 'x': client #3 → client #4, streaming, 1.20 GiB of 2.00 GiB (60%), 3.10 GB/s". */
function transferLines(transfers: StatusReport["transfers"], total: number): string[] {
  return [
    `transfers in progress (${total}):`,
    ...transfers.map((transfer) => {
      // A role word of 0 while streaming: that end has left (its peer is about to notice and end too).
      const sender = transfer.sender
        ? `client #${transfer.sender}${inVm(transfer.senderVm)}`
        : "(sender gone)";
      const receiver = transfer.receiver
        ? `client #${transfer.receiver}${inVm(transfer.receiverVm)}`
        : "(no receiver yet)";
      const of = transfer.totalBytes
        ? ` of ${formatBytes(transfer.totalBytes)} (${Math.floor((100 * transfer.bytes) / transfer.totalBytes)}%)`
        : "";
      const rate = transfer.bytesPerSecond ? `, ${formatRate(transfer.bytesPerSecond)}` : "";
      return `  channel '${transfer.channel}': ${sender} → ${receiver}, ${transfer.state}, ${formatBytes(transfer.bytes)}${of}${rate}`;
    }),
    ...more(transfers.length, total),
  ];
}

/** " (VM 'web')" for an end in a guest; nothing for the host's processes, or from an older arbiter. */
function inVm(vm: string | undefined): string {
  return vm === undefined || vm === HOST_VM ? "" : ` (VM '${vm}')`;
}

/**
 * --check: what the operator must mend, on stderr (the report on stdout is as without it), and the exit
 * code that says whether there was any, so a monitor need not parse the report.
 */
function checked(report: StatusReport): number {
  const found = [
    ...journalLines(report.journalOutage),
    ...(report.problems ?? []).map((problem) => `PROBLEM: ${problem}`),
  ];
  for (const line of found) log.error(escapeControls(line));
  return found.length > 0 ? EXIT_PROBLEMS : 0;
}

/** First thing after the arbiter's line while its journal refuses changes: the operator must act. */
function journalLines(outage: StatusReport["journalOutage"]): string[] {
  if (!outage) return [];
  const since = formatDuration(Math.max(1, Math.round(outage.forMs / 1000)) * 1000);
  return [`state journal: REFUSING CHANGES for ${since} (${outage.refused} refused): ${outage.error}`];
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

/** A VM's slots and connections, each shown when a limit counts them (the line is as before without). */
function vmLimitCounts(vm: StatusReport["vms"][number], limits: StatusReport["limits"]): string {
  const slots = limits?.vmSlots ? `; ${plural(vm.slotsHeld ?? 0, "slot")} held` : "";
  return `${slots}${limits?.vmConnections ? `; ${plural(vm.connections ?? 0, "connection")}` : ""}`;
}

/** The limits set, one line (none set: no line). */
function limitLines(limits: StatusReport["limits"], blockSize: number): string[] {
  if (!limits) return [];
  const quota = (blocks: number) => formatBytes(blocks * blockSize);
  const set = [
    limits.clientQuotaBlocks ? `--client-quota ${quota(limits.clientQuotaBlocks)}` : "",
    limits.vmQuotaBlocks ? `--vm-quota ${quota(limits.vmQuotaBlocks)}` : "",
    limits.vmSlots ? `--vm-slots ${limits.vmSlots}` : "",
    limits.vmConnections ? `--vm-connections ${limits.vmConnections}` : "",
  ].filter(Boolean);
  return set.length > 0 ? [`limits: ${set.join(", ")}`] : [];
}

/** ", ivsh 0.1.0 (6b2c4b13e0aa 2026-12-07)": which build the arbiter runs (nothing from an older arbiter). */
function ivshOf(report: StatusReport): string {
  return report.arbiterVersion === undefined ? "" : `, ivsh ${report.arbiterVersion}`;
}

/** The arbiter's instance as the text (and the errors that compare a region's header with it) name it. */
const instanceHex = (report: StatusReport) => report.arbiterInstance.toString(16);

/**
 * The report as --json writes it: `arbiterInstanceHex` added after `arbiterInstance` (kept, a number), the
 * text's hex form; the JSON's decimal alone could not be matched with the text's hex.
 */
function withInstanceHex(report: StatusReport): Record<string, unknown> {
  const entries = Object.entries(report).flatMap(([key, value]) =>
    key === "arbiterInstance"
      ? [[key, value] as const, ["arbiterInstanceHex", instanceHex(report)] as const]
      : [[key, value] as const],
  );
  return Object.fromEntries(entries);
}

function renderStatus(report: StatusReport): string {
  const { region, blocks, totals } = report;
  const lines = [
    `arbiter pid ${report.arbiterPid} (instance ${instanceHex(report)})${ivshOf(report)}, epoch ${report.epoch}, lease ${report.leaseMs} ms, up ${formatDuration(Math.max(1, Math.floor(report.uptimeMs / 1000)) * 1000)}`,
    `region ${region.path}: ${formatBytes(region.size)}, ${region.blockCount} blocks of ${formatBytes(region.blockSize)}, ${region.slotCount} slots`,
    `blocks: ${blocks.free} free, ${blocks.used} used of ${blocks.total}`,
    ...journalLines(report.journalOutage),
    ...(report.problems ?? []).map((problem) => `PROBLEM: ${problem}`),
    ...limitLines(report.limits, region.blockSize),
    "",
    `VMs (${totals.vms}):`,
    ...report.vms.map(
      (vm) =>
        `  ${vm.vm}: ${plural(vm.clientCount, "client")} (${vm.clients.map((id) => `#${id}`).join(", ") || "-"}` +
        `${vm.clientCount > vm.clients.length ? ", …" : ""}); ${plural(vm.blocksAllocated, "block")} allocated` +
        vmLimitCounts(vm, report.limits),
    ),
    ...more(report.vms.length, totals.vms),
    `clients (${totals.clients}, ${totals.connected} connected):`,
    ...report.clients.map(
      (client) =>
        `  client #${client.clientId} ${client.name} pid ${client.pid} vm ${client.vm} ` +
        `${client.connected ? `idle ${client.idleMs} ms` : "disconnected"}, ${plural(client.grants, "grant")}, ${plural(client.blocksAllocated, "block")}`,
    ),
    ...more(report.clients.length, totals.clients),
    `segments (${totals.segments}):`,
    ...report.segments.map(
      (segment) =>
        `  segment #${segment.id} ${segment.name || "(unnamed)"} blocks ${segment.firstBlock}+${segment.blockCount} ` +
        `(${formatBytes(segment.bytes)}), holders ${segment.holders.map((holder) => `#${holder.clientId} ${holder.mode}`).join(", ")}` +
        `${segment.holderCount > segment.holders.length ? ` and ${segment.holderCount - segment.holders.length} more` : ""}`,
    ),
    ...more(report.segments.length, totals.segments),
    `synchronisation (${totals.sync}):`,
    ...report.sync.map(
      (object) =>
        `  slot ${object.slot} ${object.kind} '${object.kind === "channel" ? channelOfSlotName(object.name) : object.name}': held by ${object.lockOwner ? `#${object.lockOwner}` : "nobody"}` +
        `${object.ownerDied ? " (previous owner died)" : ""}, ${object.waiters} waiting, opened by ${object.holders.map((id) => `#${id}`).join(", ")}` +
        `${(object.holderCount ?? 0) > object.holders.length ? ` and ${(object.holderCount ?? 0) - object.holders.length} more` : ""}`,
    ),
    ...more(report.sync.length, totals.sync),
    ...transferLines(report.transfers, totals.transfers ?? report.transfers.length),
    ...integrityLines(report.integrity),
  ];
  // Names are whatever clients chose (a guest's too): a name holding "\x1b]0;..." or "\n  client #1 ..."
  // must not drive the operator's terminal or print as a line of the report's own.
  return `${lines.map(escapeControls).join("\n")}\n`;
}
