/**
 * A transfer while a rogue process (scribbler.ts) writes random bytes over the header, the slot table and
 * the transfer's ring. Checked: the arbiter stays up and puts back what it owns (status says so); the
 * honest peers end within their bound, each with an error or a bit-exact result, never a verified wrong
 * file; their errors are ivsh's own messages (and are tallied by whether they name the corruption).
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { fetchStatus } from "../../src/guest/inspect.ts";
import { eventually, livenessBoundMs } from "../helpers/processes.ts";
import { ivsh, makeFifo, soakScript, spawnTracked, type Tracked } from "./harness.ts";
import { rescueAWaitingEnd } from "./rescue.ts";
import { livenessAllowanceMs, type ScenarioResult, type SoakContext } from "./scenario.ts";
import { checkEnd, describeExit } from "./transfer-verdict.ts";

const MiB = 1 << 20;
const NAMES_CORRUPTION = /digest|overwritten|corrupt/i;

export async function scribbleScenario(context: SoakContext): Promise<ScenarioResult> {
  const { random, paths, leaseMs } = context;
  const size = random.range(1, 16 * MiB);
  const offset = random.int(context.pool.byteLength - size + 1);
  const expected = context.pool.subarray(offset, offset + size);
  const source = join(context.dir, "source");
  const output = join(context.dir, "output");
  writeFileSync(source, expected);
  const channel = `scribble-${random.next().toString(16)}`;
  const chunk = random.pick([65536, 262144, MiB]);
  const depth = 4;
  // A slow pipe makes the transfer last about a second or two, and the scribbles land while it runs.
  const spanMs = 500 + size / 15_000;
  const count = random.range(1, 6);
  const repairsBefore = (await fetchStatus({ unix: paths.socket })).report.integrity.repairs;
  const env = { IVSH_SOCKET: paths.socket, IVSH_REGION: paths.region };
  const fifo = makeFifo(join(context.dir, "in.fifo"));
  const geometry = ["--block-size", String(chunk), "--depth", String(depth)];
  const processes: Tracked[] = [
    spawnTracked({
      name: "receiver",
      isIvsh: true,
      env,
      argv: ivsh("guest", "recv", "--out", output, "--channel", channel),
    }),
    spawnTracked({
      name: "sender",
      isIvsh: true,
      env,
      stdinFrom: fifo,
      argv: ivsh("guest", "send", "-", "--channel", channel, ...geometry),
    }),
  ];
  const seed = String(random.next());
  const producer = spawnTracked({
    name: "producer",
    isIvsh: false,
    stdoutTo: fifo,
    argv: soakScript("pipe-end.ts", "producer", source, "slow", seed),
  });
  const config = {
    region: paths.region,
    socket: paths.socket,
    channel,
    seed: random.next(),
    count,
    spanMs,
    depth,
  };
  const scribbler = spawnTracked({
    name: "scribbler",
    isIvsh: false,
    argv: soakScript("scribbler.ts", JSON.stringify(config)),
  });
  const deadline = performance.now() + 3 * spanMs + livenessAllowanceMs(leaseMs);
  const byName = new Map(processes.map((tracked) => [tracked.name, tracked]));
  const files = { source, rescued: join(context.dir, "rescued") };
  // A receiver that could not even start (a header overwritten as it connected) leaves its sender waiting.
  const rescue = await rescueAWaitingEnd(channel, context, files, byName, deadline);
  await Promise.all([...processes, scribbler].map((tracked) => tracked.settle(deadline)));
  if (rescue) await rescue.settle(rescue.partner.exit?.code === 0 ? deadline : performance.now());
  await producer.settle(performance.now() + 3000);
  const scribbles = (await scribbler.events()).filter((event) => event.event === "scribble");
  const violations: string[] = [];
  for (const tracked of processes) await checkEnd(tracked, violations);
  const [receiver, sender] = processes as [Tracked, Tracked];
  const kept = existsSync(output) ? new Uint8Array(readFileSync(output)) : undefined;
  if (kept && Bun.hash.xxHash3(kept) !== Bun.hash.xxHash3(expected))
    violations.push(`a wrong file (${kept.byteLength} bytes) was left under its final name`);
  if (receiver.exit?.code === 0 && !kept) violations.push("the receiver exited 0 but left no file");
  const rescuer = byName.get("rescue-receiver");
  const delivered = receiver.exit?.code === 0 || rescuer?.exit?.code === 0;
  if (sender.exit?.code === 0 && !delivered)
    violations.push(`the sender exited 0 but the receiver failed (${describeExit(receiver)})`);
  const headerHit = scribbles.some((event) => event.area === "header" && event.changed);
  if (headerHit) await expectRepairs(context, repairsBefore, violations);
  const { tallies, unnamed } = await tallyErrors(processes);
  const areas = scribbles.map((event) => String(event.area)).join(", ");
  return {
    kind: "scribble",
    description: `${size} bytes, chunk ${chunk}; ${scribbles.length} scribbles (${areas || "none"})${unnamed ? `; failed with: ${unnamed}` : ""}`,
    faults: scribbles.map((event) => ({ kind: "scribble", targets: [String(event.area)], atMs: 0 })),
    violations,
    tallies: { scribbles: scribbles.length, ...tallies },
  };
}

/** The arbiter notices an overwritten header within a sweep or two and puts it back. */
async function expectRepairs(context: SoakContext, before: number, violations: string[]): Promise<void> {
  const repaired = async () =>
    (await fetchStatus({ unix: context.paths.socket })).report.integrity.repairs > before;
  try {
    await eventually(repaired, livenessBoundMs(context.leaseMs), "repairing the overwritten header");
  } catch (error) {
    violations.push(String(error));
  }
}

/** Whether a transfer that failed said why in terms of the corruption (at one end at least). */
async function tallyErrors(
  processes: Tracked[],
): Promise<{ tallies: Record<string, number>; unnamed: string }> {
  const failed = processes.filter((tracked) => tracked.exit?.code !== 0 && !tracked.exit?.hung);
  const messages = await Promise.all(failed.map(async (tracked) => (await tracked.stderr).trim()));
  if (failed.length === 0) return { tallies: { completed: 1 }, unnamed: "" };
  if (messages.some((message) => NAMES_CORRUPTION.test(message)))
    return { tallies: { failedNamingCorruption: 1 }, unnamed: "" };
  return { tallies: { failedOtherwise: 1 }, unnamed: messages.join(" | ").replace(/\s+/g, " ") };
}
