#!/usr/bin/env bun
/**
 * ivsh: shared memory between co-located VMs and their host through IVSHMEM. Subcommands live one file
 * each under ./commands and load lazily, except `guest send` / `recv` (scripts/build.ts says why). The library throws; only this file prints errors and sets exit codes:
 * 0 success, 1 the operation failed (the message says why), 2 the command line is wrong, 130 interrupted.
 */
import { type CommandDef, defineCommand, runCommand, showUsage } from "citty";
import packageJson from "../package.json" with { type: "json" };
import { UsageError } from "./commands/_strict.ts";
import guest from "./commands/guest.ts";
import { IvshError } from "./errors.ts";
import { log } from "./log.ts";
import { phase } from "./phases.ts";

phase("cli loaded");
const load = <T>(module: Promise<{ default: T }>) => module.then((loaded) => loaded.default);

export const main = defineCommand({
  meta: { name: "ivsh", version: packageJson.version, description: packageJson.description },
  subCommands: {
    host: () => load(import("./commands/host.ts")),
    status: () => load(import("./commands/status.ts")),
    guest,
    bridge: () => load(import("./commands/bridge.ts")),
    bench: () => load(import("./commands/bench.ts")),
    "bench-worker": () => load(import("./commands/bench-worker.ts")),
    example: () => load(import("./commands/example.ts")),
    demo: () => load(import("./commands/demo.ts")),
    "demo-worker": () => load(import("./commands/demo-worker.ts")),
    "compact-state": () => load(import("./commands/compact-state.ts")),
  },
});

/**
 * Commands that run long enough for compiled code to pay off. The binary starts with the JIT made
 * reluctant (scripts/build.ts), which short commands such as `guest send` of a small file gain from.
 */
const LONG_RUNNING = new Set(["host", "bridge", "bench", "bench-worker", "demo", "demo-worker", "example"]);

async function run(rawArgs: string[]): Promise<number> {
  if (LONG_RUNNING.has(rawArgs[0] ?? "")) Bun.unsafe.setJITPolicy?.(1);
  try {
    if (rawArgs.length === 1 && (rawArgs[0] === "--version" || rawArgs[0] === "-v")) {
      process.stdout.write(`${packageJson.version}\n`);
      return 0;
    }
    if (rawArgs.includes("--help") || rawArgs.includes("-h") || rawArgs.length === 0) {
      await showUsage(...(await resolveCommand(main, rawArgs)));
      return 0;
    }
    await runCommand(main, { rawArgs });
    return 0;
  } catch (error) {
    return report(error, rawArgs);
  }
}

async function report(error: unknown, rawArgs: string[]): Promise<number> {
  if (error instanceof UsageError) {
    await showUsage(error.command);
    log.error(error.message);
    return 2;
  }
  if (error instanceof IvshError) {
    log.error(error.message);
    return error.code === "Interrupted" ? 130 : 1;
  }
  if (error instanceof Error && error.name === "CLIError") {
    await showUsage(...(await resolveCommand(main, rawArgs)));
    log.error(error.message);
    return 2;
  }
  log.error(error);
  return 1;
}

/** The subcommand `rawArgs` names, with its parent: what --help describes. */
async function resolveCommand(
  command: CommandDef,
  rawArgs: string[],
  parent?: CommandDef,
): Promise<[CommandDef, CommandDef?]> {
  const subCommands =
    typeof command.subCommands === "function" ? await command.subCommands() : await command.subCommands;
  const name = rawArgs.find((arg) => !arg.startsWith("-"));
  const next = name && subCommands?.[name];
  if (!next) return [command, parent];
  const resolved = (typeof next === "function" ? await next() : await next) as CommandDef;
  return resolveCommand(resolved, rawArgs.slice(rawArgs.indexOf(name) + 1), command);
}

if (import.meta.main) process.exitCode = await run(process.argv.slice(2));
