/**
 * How to start another ivsh process: the compiled binary re-runs itself; under `bun src/cli.ts` it is
 * bun plus the CLI's path. Tests, the demo and the benchmarks use this so they work the same both ways.
 */
import { fileURLToPath } from "node:url";

const cliPath = fileURLToPath(new URL("./cli.ts", import.meta.url));

export function isCompiled(): boolean {
  return Bun.main.startsWith("/$bunfs/") || import.meta.url.includes("$bunfs");
}

/** argv prefix that runs `ivsh`: append the subcommand and its flags. */
export function selfCommand(): string[] {
  return isCompiled() ? [process.execPath] : [process.execPath, cliPath];
}
