/**
 * Where a command's time goes, from the process's start: with IVSH_PHASES=1 each phase a command passes
 * prints `ivsh phase MS LABEL` to stderr (performance.now() counts from the start of the process).
 * docs/bench/transfer-path.md reads them for `ivsh guest send` / `recv`.
 */
const enabled = process.env.IVSH_PHASES === "1";

export function phase(label: string): void {
  if (enabled) process.stderr.write(`ivsh phase ${performance.now().toFixed(2)} ${label}\n`);
}
