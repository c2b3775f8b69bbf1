/** What every soak scenario gets and gives back. */

import type { TestPaths } from "../helpers/paths.ts";
import type { Prng } from "../helpers/prng.ts";
import type { ArbiterProcess } from "../helpers/processes.ts";
import type { Fault } from "./harness.ts";

export interface SoakContext {
  random: Prng;
  arbiter: ArbiterProcess;
  paths: TestPaths;
  leaseMs: number;
  /** A scratch directory of this scenario, in /dev/shm (removed afterwards). */
  dir: string;
  /** 256 MiB of random bytes: sources are slices of it. */
  pool: Uint8Array;
}

export interface ScenarioResult {
  kind: string;
  /** One line: what ran, with what geometry and order. */
  description: string;
  faults: Fault[];
  violations: string[];
  /** Facts worth adding up over a run (e.g. errors that named the corruption). */
  tallies?: Record<string, number>;
}

export type Scenario = (context: SoakContext) => Promise<ScenarioResult>;

/** The exit codes ivsh documents: 0 done, 1 failed (the message says why), 130 SIGINT, 143 SIGTERM. */
export const DOCUMENTED_EXITS = new Set([0, 1, 130, 143]);

/** What the bound on a process's end allows after its last fault: the lease rules plus a loaded machine. */
export function livenessAllowanceMs(leaseMs: number): number {
  return 3 * leaseMs + 10_000;
}

/** Whether `actual` is `expected` (or, with `prefixOk`, its first bytes). */
export function sameOrPrefix(actual: Uint8Array, expected: Uint8Array, prefixOk: boolean): boolean {
  if (actual.byteLength > expected.byteLength) return false;
  if (!prefixOk && actual.byteLength !== expected.byteLength) return false;
  const head = expected.subarray(0, actual.byteLength);
  return Bun.hash.xxHash3(actual) === Bun.hash.xxHash3(head);
}
