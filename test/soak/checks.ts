/**
 * After every scenario: the arbiter still runs and answers, and within the liveness bound it is back to
 * nothing held (no used blocks, segments, slots or clients: what dead clients held was reclaimed), and a
 * new client can map the region (its header is intact or was put back).
 */
import { connect } from "../../src/guest/index.ts";
import { fetchStatus } from "../../src/guest/inspect.ts";
import type { StatusReport } from "../../src/protocol/status-report.ts";
import type { TestPaths } from "../helpers/paths.ts";
import type { ArbiterProcess } from "../helpers/processes.ts";
import { livenessAllowanceMs } from "./scenario.ts";

function leftovers(report: StatusReport, self: number): string[] {
  const clients = report.clients.filter((client) => client.clientId !== self);
  const found: string[] = [];
  if (report.blocks.used > 0) found.push(`${report.blocks.used} blocks used`);
  if (report.segments.length > 0)
    found.push(`segments ${report.segments.map((s) => s.name || s.id).join(", ")}`);
  if (report.sync.length > 0) found.push(`slots ${report.sync.map((s) => s.name).join(", ")}`);
  if (clients.length > 0) found.push(`clients ${clients.map((c) => `#${c.clientId} ${c.name}`).join(", ")}`);
  return found;
}

export async function checkArbiter(
  arbiter: ArbiterProcess,
  paths: TestPaths,
  leaseMs: number,
): Promise<string[]> {
  const { proc } = arbiter.spawned;
  if (proc.exitCode !== null || proc.signalCode !== null) {
    const stderr = await arbiter.spawned.stderr;
    await arbiter.restart();
    return [
      `the arbiter died (code ${proc.exitCode}, signal ${proc.signalCode}): ${stderr.trim().slice(-2000)}`,
    ];
  }
  const deadline = performance.now() + livenessAllowanceMs(leaseMs);
  for (;;) {
    const found = await problems(paths);
    if (found.length === 0) return [];
    if (performance.now() > deadline) return [`within the liveness bound: ${found.join("; ")}`];
    await Bun.sleep(100);
  }
}

async function problems(paths: TestPaths): Promise<string[]> {
  try {
    const { report, self } = await fetchStatus({ unix: paths.socket });
    const found = leftovers(report, self);
    if (found.length > 0) return [`the arbiter still holds ${found.join(", ")}`];
  } catch (error) {
    return [`status failed: ${String(error)}`];
  }
  try {
    const client = await connect({ socket: paths.socket, region: paths.region, name: "soak check" });
    await client.close();
    return [];
  } catch (error) {
    return [`a new client cannot start: ${String(error)}`];
  }
}
