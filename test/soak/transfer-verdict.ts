/**
 * The failure model, checked after each transfer scenario: a transfer ends with the receiver holding a
 * bit-exact copy under its final name and both ends exiting 0, or with both ends failing and at most
 * FILE.partial; exit codes are the documented ones; nothing hangs.
 */
import type { Fault, Tracked } from "./harness.ts";
import { DOCUMENTED_EXITS, sameOrPrefix } from "./scenario.ts";

export interface TransferPlan {
  size: number;
  offset: number;
  chunk: number;
  depth: number;
  source: "file" | "pipe" | "slow-pipe";
  sink: "file" | "pipe";
  slowSink: boolean;
  receiverFirst: boolean;
  gapMs: number;
  channel: string;
}

export interface TransferEvidence {
  plan: TransferPlan;
  expected: Uint8Array;
  processes: Map<string, Tracked>;
  applied: Fault[];
  /** The receiver's output under its final name (file sink) or the consumer's copy (pipe sink). */
  output: Uint8Array | undefined;
  /** Whether FILE.partial was left. */
  partial: boolean;
  /** What a rescue receiver (given to a sender whose receiver died before joining) wrote. */
  rescued: Uint8Array | undefined;
}

/** Signals after which a process may have died without running any handler of its own. */
const ABRUPT = ["SIGKILL", "SIGINT", "SIGTERM", "ctrl-c"];

export async function judgeTransfer(evidence: TransferEvidence): Promise<string[]> {
  const { processes, applied } = evidence;
  const violations: string[] = [];
  for (const tracked of processes.values()) await checkEnd(tracked, violations);
  const sender = processes.get("sender")!;
  const receiver = processes.get("receiver")!;
  const producer = processes.get("producer");
  const consumer = processes.get("consumer");
  // A producer that died or froze on its own cuts the stream short: what arrives may be its first part.
  const cutShort = producer?.wasSent("SIGKILL", "SIGINT", "SIGTERM") ?? false;
  // A consumer that died keeps only what it had read; what the receiver wrote after that is lost with it.
  const consumerCut = consumer?.wasSent("SIGKILL", "SIGINT", "SIGTERM") ?? false;
  const arbiterOnly = applied.every((fault) => fault.kind.startsWith("arbiter-"));
  const receiverOk = receiver.exit?.code === 0;
  const senderOk = sender.exit?.code === 0;
  const { output, expected, plan } = evidence;
  if (
    output &&
    !sameOrPrefix(output, expected, cutShort || consumerCut || (plan.sink === "pipe" && !receiverOk))
  )
    violations.push(
      `the output (${output.byteLength} bytes) is not ${cutShort ? "a prefix of " : ""}the source (${expected.byteLength} bytes)`,
    );
  // Dead of a signal it was sent (no handler of its own ran: SIGKILL, or a stop signal landing as the
  // process tore itself down after its verdict) with the whole source under its final name: it had
  // verified and kept the file, and the sender its verdict (seed 9436, scenario 50: a 3.6 MB file in one
  // chunk, its SIGINT "at progress" sent once the whole of it was there).
  const keptThenKilled =
    receiver.exit?.signal != null &&
    receiver.wasSent(...ABRUPT) &&
    output?.byteLength === expected.byteLength &&
    sameOrPrefix(output, expected, false);
  if (plan.sink === "file") {
    if (receiverOk && !output) violations.push("the receiver exited 0 but left no file under its final name");
    if (!receiverOk && output && !receiver.wasSent("SIGKILL") && !keptThenKilled)
      violations.push(`the receiver failed (${describeExit(receiver)}) but left a file under its final name`);
    if (receiverOk && evidence.partial) violations.push("the receiver exited 0 but FILE.partial is left too");
  }
  if (plan.sink === "pipe" && receiverOk && consumer?.exit?.code === 0 && !output)
    violations.push("the consumer has no output file");
  // The receiver kept the file: the sender must report success too, unless a signal killed it outright
  // or it was frozen past its lease (its session, and with it the verdict, was gone when it woke).
  const senderLost = sender.exit?.signal !== null || sender.wasSent("SIGSTOP-stop-long");
  if (receiverOk && !senderOk && !senderLost && !sender.exit?.hung && !processes.has("rescue-sender"))
    violations.push(
      `the receiver exited 0 but the sender ${describeExit(sender)}:\n${await stderrOf(sender)}`,
    );
  const rescue = processes.get("rescue-receiver");
  // A sender whose own receiver delivered owes nothing to a rescue started while it was slow to exit.
  if (rescue) checkRescue(rescue, senderOk && !receiverOk, evidence, cutShort, violations);
  else if (senderOk && !receiverOk && !receiver.wasSent("SIGKILL") && !keptThenKilled)
    violations.push(`the sender exited 0 but the receiver failed (${describeExit(receiver)})`);
  if (applied.length === 0 && !(senderOk && receiverOk && output?.byteLength === expected.byteLength))
    violations.push(
      `no fault was injected, yet sender ${describeExit(sender)}, receiver ${describeExit(receiver)}:\n` +
        (await stderrOf(sender, receiver)),
    );
  if (arbiterOnly && applied.length > 0 && !(senderOk && receiverOk))
    await checkArbiterOutage(sender, receiver, violations);
  return violations;
}

/** A sender that completed with the receiver the soak gave it must have delivered the source to it. */
function checkRescue(
  rescue: Tracked,
  senderOkThroughRescue: boolean,
  evidence: TransferEvidence,
  cutShort: boolean,
  violations: string[],
): void {
  const { rescued, expected } = evidence;
  if (senderOkThroughRescue && rescue.exit?.code !== 0)
    violations.push(`the sender exited 0 but its rescue receiver ${describeExit(rescue)}`);
  if (rescued && !sameOrPrefix(rescued, expected, cutShort))
    violations.push(`the rescue receiver's file (${rescued.byteLength} bytes) is not the source`);
}

/** An arbiter outage is survivable, except for a process that had to connect while no arbiter ran. */
async function checkArbiterOutage(sender: Tracked, receiver: Tracked, violations: string[]): Promise<void> {
  for (const side of [sender, receiver]) {
    if (side.exit?.code === 0) continue;
    const stderr = await side.stderr;
    if (!/connect to the arbiter/.test(stderr))
      violations.push(`${side.name} failed on a survivable arbiter outage: ${stderr.trim()}`);
  }
}

export async function checkEnd(tracked: Tracked, violations: string[]): Promise<void> {
  const exit = tracked.exit;
  if (!exit) return;
  if (exit.hung && tracked.isIvsh) {
    violations.push(`${tracked.name} did not end within the bound (hang); stderr:\n${await tracked.stderr}`);
    return;
  }
  if (!tracked.isIvsh || exit.hung) return;
  if (exit.code !== null && DOCUMENTED_EXITS.has(exit.code)) {
    await checkMessage(tracked, violations);
    return;
  }
  const ownSignal = exit.signal && tracked.received.some((label) => ABRUPT.includes(label));
  if (!ownSignal)
    violations.push(`${tracked.name} ended with ${describeExit(tracked)}, not a documented exit code`);
}

/** A failure is reported as ivsh's own error line, never a crash or a stack trace. */
async function checkMessage(tracked: Tracked, violations: string[]): Promise<void> {
  if (tracked.exit?.code === 0) return;
  const stderr = await tracked.stderr;
  if (/Bun has crashed|TypeError|RangeError|ReferenceError|^\s+at /m.test(stderr))
    violations.push(`${tracked.name} failed with a crash, not an error message:\n${stderr}`);
}

export function describeExit(tracked: Tracked): string {
  const exit = tracked.exit;
  if (!exit) return "not started";
  if (exit.hung) return "hung";
  return exit.code !== null ? `exit ${exit.code}` : `signal ${exit.signal}`;
}

async function stderrOf(...processes: Tracked[]): Promise<string> {
  const parts = await Promise.all(processes.map(async (p) => `[${p.name}] ${(await p.stderr).trim()}`));
  return parts.join("\n");
}
