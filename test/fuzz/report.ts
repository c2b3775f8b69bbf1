/** Counts and violations of a fuzz run, and how they are printed and written as JSON. */

export interface Violation {
  seed: number;
  /** Fuzz connection number (-1: the status monitor, -2: the run as a whole, -3: an honest worker). */
  connection: number;
  /** The connection's frame (1-based) the violation is about; 0 when it is about no one frame. */
  frame: number;
  kind: string;
  detail: string;
  replay: string;
}

export const MONITOR = -1;
export const WHOLE_RUN = -2;
export const HONEST = -3;

/** Violations kept in full; more are only counted (one defect can repeat thousands of times). */
const KEPT_VIOLATIONS = 200;

export class FuzzStats {
  frames = 0;
  connections = 0;
  bytes = 0;
  violationCount = 0;
  /** Frames sent per generator or mutation kind. */
  readonly kinds = new Map<string, number>();
  /** Answers received: error codes by name, replies as "<op> ok", and other events. */
  readonly outcomes = new Map<string, number>();
  readonly violations: Violation[] = [];

  constructor(readonly seed: number) {}

  count(kind: string, amount = 1): void {
    this.kinds.set(kind, (this.kinds.get(kind) ?? 0) + amount);
  }

  outcome(name: string): void {
    this.outcomes.set(name, (this.outcomes.get(name) ?? 0) + 1);
  }

  violate(connection: number, frame: number, kind: string, detail: string): Violation {
    const violation: Violation = {
      seed: this.seed,
      connection,
      frame,
      kind,
      detail: detail.length > 2000 ? `${detail.slice(0, 2000)}...` : detail,
      replay:
        connection >= 0
          ? `bun test/fuzz/main.ts --seed ${this.seed} --replay ${connection} --trace`
          : `bun test/fuzz/main.ts --seed ${this.seed} --frames ${this.frames}`,
    };
    this.violationCount++;
    if (this.violations.length < KEPT_VIOLATIONS) this.violations.push(violation);
    return violation;
  }
}

export function formatViolation(violation: Violation): string {
  const where =
    violation.connection >= 0
      ? `connection ${violation.connection} frame ${violation.frame}`
      : ({ [MONITOR]: "status monitor", [WHOLE_RUN]: "run", [HONEST]: "honest workers" }[
          violation.connection
        ] ?? "run");
  return `violation (seed ${violation.seed}, ${where}) ${violation.kind}: ${violation.detail}\n  replay: ${violation.replay}`;
}

export interface RunSummary {
  seed: number;
  frames: number;
  connections: number;
  bytes: number;
  violations: number;
  durationMs: number;
  framesPerSecond: number;
  honestRounds: number;
  arbiterMaxRssMiB: number;
}

export function summaryLine(summary: RunSummary): string {
  return `fuzz: ${summary.frames} frames, ${summary.connections} connections, ${summary.violations} violations`;
}

export function jsonReport(stats: FuzzStats, summary: RunSummary): string {
  const sorted = (map: Map<string, number>) =>
    Object.fromEntries([...map].sort(([a], [b]) => a.localeCompare(b)));
  return JSON.stringify(
    {
      ...summary,
      kinds: sorted(stats.kinds),
      outcomes: sorted(stats.outcomes),
      violationList: stats.violations,
    },
    null,
    2,
  );
}
