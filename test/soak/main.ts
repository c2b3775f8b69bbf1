/**
 * The fault-injection soak: `npm run soak -- --seconds N [--seed S] [--json FILE] [--only I]`.
 * Runs random scenarios (transfers, crowds of transfers at once, lock/condvar/churn workloads, a region
 * scribbler) against one arbiter, each with real processes and faults at random moments, and checks the
 * failure model after each. Every scenario draws from its own stream of (seed, index), so `--seed S --only I` replays scenario I.
 * `--kinds` keeps to some scenario kinds. The last line is exactly `soak: N scenarios, M faults injected, V violations`; exit 1 if V > 0.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { testPaths } from "../helpers/paths.ts";
import { Prng } from "../helpers/prng.ts";
import { ArbiterProcess } from "../helpers/processes.ts";
import { checkArbiter } from "./checks.ts";
import { crowdScenario } from "./crowd-scenario.ts";
import { describeFault, killAllTracked } from "./harness.ts";
import { lockScenario } from "./lock-scenario.ts";
import type { Scenario, ScenarioResult, SoakContext } from "./scenario.ts";
import { scribbleScenario } from "./scribble-scenario.ts";
import { transferScenario } from "./transfer-scenario.ts";

const POOL_BYTES = 256 << 20;
const SCENARIOS: Record<string, { weight: number; run: Scenario }> = {
  transfer: { weight: 5, run: transferScenario },
  locks: { weight: 3, run: lockScenario },
  scribble: { weight: 1.5, run: scribbleScenario },
  crowd: { weight: 1, run: crowdScenario },
};

const USAGE = `usage: npm run soak -- --seconds N [--seed S] [--json FILE] [--only I] [--lease MS] [--kinds transfer,locks,scribble,crowd]
  --seconds N   how long to run scenarios (default 60)
  --seed S      the run's seed (default: random, printed); the same seed replays the same scenarios
  --json FILE   writes the totals and violations there
  --only I      runs only scenario number I of the seed (what a violation's replay line names)
  --lease MS    the arbiter's client lease (default 3000)
  --kinds K,..  which scenarios to draw from (default: all)`;

const { values } = (() => {
  try {
    return parseArgs({
      options: {
        seconds: { type: "string", default: "60" },
        seed: { type: "string" },
        json: { type: "string" },
        only: { type: "string" },
        lease: { type: "string", default: "3000" },
        kinds: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    });
  } catch (error) {
    console.error(`${error instanceof Error ? error.message : String(error)}\n${USAGE}`);
    process.exit(2);
  }
})();
if (values.help) {
  console.log(USAGE);
  process.exit(0);
}
const kinds = values.kinds?.split(",") ?? Object.keys(SCENARIOS);
const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
const leaseMs = Number(values.lease);
const seconds = Number(values.seconds);
if (
  ![seed, leaseMs, seconds].every(Number.isFinite) ||
  (values.only && !Number.isInteger(Number(values.only)))
) {
  console.error(USAGE);
  process.exit(2);
}

interface Violation {
  index: number;
  kind: string;
  description: string;
  faults: string[];
  what: string;
  replay: string;
}

const totals = {
  scenarios: {} as Record<string, number>,
  faults: {} as Record<string, number>,
  tallies: {} as Record<string, number>,
  violations: [] as Violation[],
};

function add(counts: Record<string, number>, key: string, by = 1): void {
  counts[key] = (counts[key] ?? 0) + by;
}

function record(index: number, result: ScenarioResult, extra: string[]): void {
  add(totals.scenarios, result.kind);
  for (const fault of result.faults) add(totals.faults, fault.kind);
  for (const [key, value] of Object.entries(result.tallies ?? {})) add(totals.tallies, key, value);
  const faults = result.faults.map(describeFault);
  const violations = [...result.violations, ...extra];
  const verdict = violations.length === 0 ? "ok" : `${violations.length} VIOLATION(S)`;
  console.log(
    `#${index} ${result.kind}: ${result.description}; faults: ${faults.join(", ") || "none"} → ${verdict}`,
  );
  for (const what of violations) {
    const replay = `npm run soak -- --seed ${seed} --only ${index}${values.kinds ? ` --kinds ${values.kinds}` : ""}`;
    totals.violations.push({
      index,
      kind: result.kind,
      description: result.description,
      faults,
      what,
      replay,
    });
    console.log(`  VIOLATION (seed ${seed}, scenario ${index}; replay: ${replay}): ${what}`);
  }
}

async function runOne(index: number, base: Omit<SoakContext, "random" | "dir">): Promise<void> {
  const random = new Prng(seed, index);
  const chosen = Object.entries(SCENARIOS).filter(([name]) => kinds.includes(name));
  const kind = random.weighted(Object.fromEntries(chosen.map(([name, scenario]) => [name, scenario.weight])));
  const dir = mkdtempSync(join("/dev/shm", "ivsh-soak-scenario-"));
  try {
    const result = await SCENARIOS[kind]!.run({ ...base, random, dir });
    record(index, result, await checkArbiter(base.arbiter, base.paths, leaseMs));
  } catch (error) {
    const what = `the scenario itself failed: ${error instanceof Error ? error.stack : String(error)}`;
    record(index, { kind, description: "(aborted)", faults: [], violations: [what] }, []);
  } finally {
    killAllTracked();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<number> {
  const paths = testPaths("soak");
  const lease = `${leaseMs}ms`;
  const arbiter = await ArbiterProcess.start(paths, {
    size: "256MiB",
    blockSize: "64KiB",
    lease,
    slots: "256",
  });
  const pool = new Uint8Array(POOL_BYTES);
  for (let at = 0; at < POOL_BYTES; at += 65536) crypto.getRandomValues(pool.subarray(at, at + 65536));
  const stop = () => {
    killAllTracked();
    paths.cleanup();
    process.exit(130);
  };
  process.once("SIGINT", stop).once("SIGTERM", stop);
  console.log(
    `soak: seed ${seed}, ${values.only ? `scenario ${values.only}` : `${seconds} s`}, lease ${leaseMs} ms`,
  );
  const started = performance.now();
  try {
    const base = { arbiter, paths, leaseMs, pool };
    if (values.only) await runOne(Number(values.only), base);
    else for (let index = 0; performance.now() - started < seconds * 1000; index++) await runOne(index, base);
  } finally {
    await arbiter.stop().catch((error) => console.log(`  VIOLATION: ${String(error)}`));
    paths.cleanup();
  }
  console.log(`soak: tallies ${JSON.stringify(totals.tallies)}`);
  const scenarios = Object.values(totals.scenarios).reduce((a, b) => a + b, 0);
  const faults = Object.values(totals.faults).reduce((a, b) => a + b, 0);
  if (values.json)
    writeFileSync(
      values.json,
      `${JSON.stringify({ seed, seconds, leaseMs, elapsedMs: performance.now() - started, ...totals }, null, 2)}\n`,
    );
  console.log(
    `soak: ${scenarios} scenarios, ${faults} faults injected, ${totals.violations.length} violations`,
  );
  return totals.violations.length > 0 ? 1 : 0;
}

process.exit(await main());
