/**
 * Where a command's time goes, from the process's start: with IVSH_PHASES=1 each phase a command passes
 * prints `ivsh phase MS LABEL` to stderr (performance.now() counts from the start of the process).
 * docs/bench/transfer-path.md reads them for `ivsh guest send` / `recv`.
 */
import { writeSync } from "node:fs";

const enabled = process.env.IVSH_PHASES === "1";

export function phase(label: string): void {
  if (!enabled) return;
  // The time first, and written straight to the descriptor: `process.stderr`'s first use builds Node's
  // stream objects (~5 ms), which the first phase would otherwise count as its own.
  const at = performance.now().toFixed(2);
  writeSync(2, `ivsh phase ${at} ${label}\n`);
}
