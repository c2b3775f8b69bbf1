/**
 * Lock, condvar and churn workloads between several worker processes (lock-worker.ts), with faults:
 * holders and waiters killed, interrupted, frozen briefly or past the lease; the arbiter killed and
 * restarted or frozen. Checked: mutual exclusion (nobody else inside while one holds the lock), the shared
 * counter adds up, owner-died reported at most once per death, every worker ends within its bound.
 */
import { connect, type Segment } from "../../src/guest/index.ts";
import { BOARD_BYTES, Board } from "./board.ts";
import {
  type Fault,
  injectFaults,
  randomArbiterFault,
  randomProcessFault,
  soakScript,
  spawnTracked,
  type Tracked,
} from "./harness.ts";
import { livenessAllowanceMs, type ScenarioResult, type SoakContext } from "./scenario.ts";
import { describeExit } from "./transfer-verdict.ts";

type Mode = "mutex" | "condvar" | "churn";

interface LockPlan {
  mode: Mode;
  workers: number;
  rounds: number;
  names: { lock: string; board: string; presence: string[] };
}

function planLocks(context: SoakContext): LockPlan {
  const { random } = context;
  const mode = random.weighted({ mutex: 3, condvar: 2, churn: 1 } as const);
  const tag = random.next().toString(16);
  return {
    mode,
    workers: mode === "condvar" ? 2 : random.range(2, 4),
    rounds: { mutex: random.range(200, 5000), condvar: random.range(50, 1000), churn: random.range(20, 200) }[
      mode
    ],
    names: {
      lock: `soak-lock-${tag}`,
      board: `soak-board-${tag}`,
      presence: [`soak-p0-${tag}`, `soak-p1-${tag}`],
    },
  };
}

function planFaults(context: SoakContext, plan: LockPlan, workers: string[], spanMs: number): Fault[] {
  const { random, leaseMs } = context;
  const faults: Fault[] = [];
  const count = Number(random.weighted({ 0: 2, 1: 5, 2: 3 } as const));
  for (let index = 0; index < count; index++) {
    const fault = random.chance(0.2)
      ? randomArbiterFault(random, spanMs, leaseMs)
      : randomProcessFault(random, workers, spanMs, leaseMs);
    // Most land mid-work, after a random number of the workload's critical sections.
    if (plan.mode !== "churn" && random.chance(0.7)) {
      fault.atProgress = random.int(plan.workers * plan.rounds);
      fault.atMs = spanMs;
    }
    faults.push(fault);
  }
  return faults;
}

export async function lockScenario(context: SoakContext): Promise<ScenarioResult> {
  const plan = planLocks(context);
  const owner = await connect({
    socket: context.paths.socket,
    region: context.paths.region,
    name: "soak board",
  });
  let board: Segment | undefined;
  try {
    if (plan.mode !== "churn") board = await owner.alloc(BOARD_BYTES, { name: plan.names.board });
    const processes = new Map<string, Tracked>();
    const names = Array.from({ length: plan.workers }, (_, index) => `worker${index}`);
    const spanMs = 1500 + plan.rounds * (plan.mode === "condvar" ? 1 : 0.5);
    const faults = planFaults(context, plan, names, spanMs);
    const shared = board ? new Board(board.bytes) : undefined;
    const progress = () => shared?.counter ?? 0;
    const faulting = injectFaults(faults, processes, context.arbiter, performance.now(), progress);
    for (const [index, name] of names.entries()) processes.set(name, startWorker(context, plan, index, name));
    const applied = await faulting;
    const deadline = performance.now() + 5 * spanMs + livenessAllowanceMs(context.leaseMs);
    await Promise.all([...processes.values()].map((worker) => worker.settle(deadline)));
    const violations = await judgeLocks(plan, processes, applied, shared);
    const events = (await Promise.all([...processes.values()].map((worker) => worker.events()))).flat();
    return {
      kind: `locks-${plan.mode}`,
      description: `${plan.workers} workers × ${plan.rounds} rounds`,
      faults: applied,
      violations,
      tallies: { recreated: events.filter((event) => event.event === "recreated").length },
    };
  } finally {
    await board?.free().catch(() => {});
    await owner.close();
  }
}

function startWorker(context: SoakContext, plan: LockPlan, index: number, name: string): Tracked {
  const config = {
    socket: context.paths.socket,
    region: context.paths.region,
    mode: plan.mode,
    index,
    workers: plan.workers,
    rounds: plan.rounds,
    seed: context.random.next(),
    leaseMs: context.leaseMs,
    lock: plan.names.lock,
    board: plan.names.board,
    presence: plan.names.presence,
  };
  return spawnTracked({ name, isIvsh: true, argv: soakScript("lock-worker.ts", JSON.stringify(config)) });
}

async function judgeLocks(
  plan: LockPlan,
  processes: Map<string, Tracked>,
  applied: Fault[],
  board: Board | undefined,
): Promise<string[]> {
  const violations: string[] = [];
  const workers = [...processes.values()];
  // A holder frozen past its lease loses the lock without knowing until it looks: exclusion breaks for
  // it (as for any lease-based lock), so what involves its client id is not held against the others.
  const frozen = await clientIdsOf(workers.filter((worker) => worker.wasSent("SIGSTOP-stop-long")));
  // A worker killed inside a lock nobody else had open took the lock with it (lock-worker.ts, "recreated").
  // SIGINT ends a worker as ctrl-c does (it is the same signal; the worker installs no handler).
  const killed = await clientIdsOf(
    workers.filter((worker) => worker.wasSent("SIGKILL", "SIGTERM", "SIGINT", "ctrl-c")),
  );
  const faulted = (worker: Tracked) => worker.received.length > 0;
  let ownerDiedReports = 0;
  for (const worker of workers) {
    const events = await worker.events();
    ownerDiedReports += events.filter((event) => event.event === "owner-died").length;
    for (const event of events.filter((e) => e.event === "violation"))
      if (![event.me, event.inside].some((id) => frozen.has(Number(id))))
        violations.push(`${worker.name}: mutual exclusion broken: ${String(event.what)}`);
    for (const event of events.filter((e) => e.event === "recreated"))
      if (!killed.has(Number(event.inside)))
        violations.push(
          `${worker.name}: made the lock anew and found client ${event.inside} inside, which was not killed`,
        );
    violations.push(...(await checkWorkerEnd(worker, plan, processes, faulted)));
  }
  // A death reports owner-died to one next owner; a frozen holder that takes the lock again on waking,
  // before it learns its session is gone, makes a second.
  const deaths = applied.filter((fault) => fault.kind !== "stop-short" && !fault.kind.startsWith("arbiter-"));
  const allowed = deaths.length + deaths.filter((fault) => fault.kind === "stop-long").length;
  if (ownerDiedReports > allowed)
    violations.push(
      `owner-died was reported ${ownerDiedReports} times for ${deaths.length} deaths of workers`,
    );
  if (board && frozen.size === 0 && board.inside === 0 && board.counter !== board.countsTotal())
    violations.push(
      `the shared counter is ${board.counter} but the workers' own counts add up to ${board.countsTotal()}`,
    );
  return violations;
}

async function clientIdsOf(workers: Tracked[]): Promise<Set<number>> {
  const ids = new Set<number>();
  for (const worker of workers)
    for (const event of await worker.events()) if (event.event === "ready") ids.add(Number(event.clientId));
  return ids;
}

async function checkWorkerEnd(
  worker: Tracked,
  plan: LockPlan,
  processes: Map<string, Tracked>,
  faulted: (worker: Tracked) => boolean,
): Promise<string[]> {
  const exit = worker.exit;
  if (!exit) return [];
  if (exit.hung)
    return [`${worker.name} did not end within the bound (hang); stderr:\n${await worker.stderr}`];
  if (exit.code === 0) return [];
  if (exit.code === null && faulted(worker)) return []; // killed by the signal the soak sent
  const others = [...processes.values()].filter((other) => other !== worker);
  // Its partner was faulted, or failed on its own (e.g. it started while no arbiter ran): it is gone.
  const partnerGone = (other: Tracked) =>
    faulted(other) || (other.exit !== undefined && other.exit.code !== 0);
  if (exit.code === 3 && plan.mode === "condvar" && others.some(partnerGone)) return [];
  if (exit.code === 1 && worker.wasSent("SIGSTOP-stop-long")) return [];
  const stderr = await worker.stderr;
  if (exit.code === 1 && /connect to the arbiter/.test(stderr)) return []; // started while no arbiter ran
  return [
    `${worker.name} ended with ${describeExit(worker)}: ${(await worker.stdout).trim()} ${stderr.trim()}`,
  ];
}
