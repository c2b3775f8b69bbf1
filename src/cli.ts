#!/usr/bin/env bun
// First, before the system calls load: off Linux x86-64, say so in one line (./commands/_platform.ts).
import "./commands/_platform.ts";
// And with Bun's JIT off, which every system call of ours needs, say so in one line (./commands/_ffi-ready.ts).
import "./commands/_ffi-ready.ts";
// Then, before the modules below load: a stop signal from here on is not lost (./commands/_hold-signals.ts).
import "./commands/_hold-signals.ts";
import type { ArgsDef, CommandDef, ParsedArgs } from "citty";
import packageJson from "../package.json" with { type: "json" };
import { EXIT_FAILED, EXIT_USAGE, interruptedExitCode, receivedStopSignal } from "./commands/_exit.ts";
import { quickArgs } from "./commands/_quick-args.ts";
import { checkWords, commandRunning, MissingValue, UnknownOption, UsageError } from "./commands/_strict.ts";
import { closestWord } from "./commands/_suggest.ts";
import guest, { guestCommands } from "./commands/guest.ts";
import { describeSystemError, forCommands, IvshError } from "./errors.ts";
/**
 * ivsh: shared memory between co-located VMs and their host through IVSHMEM. Subcommands live one file
 * each under ./commands and load lazily, except `guest send` / `recv` (scripts/build.ts says why). The
 * library throws; only this file prints errors and sets exit codes (./commands/_exit.ts), but for a
 * command's verdict set as process.exitCode (`ivsh status --check`, `ivsh bridge`): 0 success, 1 the
 * operation failed (the message says why), 2 the command line is wrong (the error, and one line on where
 * the usage is), 3 `ivsh status --check` was answered with problems, 128 + N interrupted by signal N.
 */
import { isTerminal } from "./ffi/index.ts";
import { lookupLeftRunning } from "./guest/tcp-open.ts";
import { log, standardWritten, writeStandard } from "./log.ts";
import { phase } from "./phases.ts";
import { VERSION } from "./version.ts";

phase("cli loaded");
const load = <T>(module: Promise<{ default: T }>) => module.then((loaded) => loaded.default);

// citty (and the node:util it loads) only when a command line needs it: `guest send` / `recv` in plain
// words run without it (runQuick). Its defineCommand returns its argument, so plain objects stand in.
const citty = () => import("citty");

export const main: CommandDef = {
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
    "compact-state": () => load(import("./commands/compact-state.ts")),
    completion: () => import("./commands/completion.ts").then((loaded) => loaded.completionCommand(main)),
  },
};

/**
 * Commands that run long enough for compiled code to pay off. The binary starts with the JIT made
 * reluctant (scripts/build.ts), which short commands such as `guest send` of a small file gain from.
 */
const LONG_RUNNING = new Set(["host", "bridge", "bench", "bench-worker", "demo", "example", "compact-state"]);

/** Runs the CLI on `rawArgs` (the words after `ivsh`); returns the exit code. bin/ivsh.mjs calls it under Bun. */
export async function run(rawArgs: string[]): Promise<number> {
  reportBugsOutside(rawArgs);
  const ran = await runCommandLine(rawArgs);
  // A name's lookup given up (Ctrl-C, the connect's timeout) cannot be cancelled, and Bun stays alive
  // until it ends, ~10 s after the command said it was interrupted. The command is over: nothing else is
  // left to wait for but its output.
  if (lookupLeftRunning()) {
    await standardWritten();
    // Judged after the wait: a bug outside may land during it.
    process.exit(exitCodeAfter(ran));
  }
  return exitCodeAfter(ran);
}

/** A command that ended well fails after a bug outside its await (reportBugsOutside). */
function exitCodeAfter(ran: number): number {
  return bugOutside && ran === 0 ? EXIT_FAILED : ran;
}

/** What asks for the version, alone: -V as well, which many commands take for it (-v is verbose in some). */
const VERSION_FLAGS = new Set(["--version", "-v", "-V"]);

async function runCommandLine(rawArgs: string[]): Promise<number> {
  if (LONG_RUNNING.has(rawArgs[0] ?? "")) Bun.unsafe.setJITPolicy?.(1);
  try {
    if (rawArgs.length === 1 && VERSION_FLAGS.has(rawArgs[0]!)) {
      writeStandard(1, `${VERSION}\n`);
      return 0;
    }
    if (rawArgs[0] === "help") return await printHelp(rawArgs.slice(1));
    // After `--` a word is an argument (a file named -h), not a flag.
    const end = rawArgs.indexOf("--");
    const flags = end < 0 ? rawArgs : rawArgs.slice(0, end);
    if (flags.includes("--help") || flags.includes("-h")) {
      await printUsage(rawArgs);
      return 0;
    }
    // No command is a usage error (exit 2), as `ivsh guest` alone is; what it offers is the answer, on
    // stderr as every usage error's text is: on stdout, a script took it for the command's output.
    if (rawArgs.length === 0) {
      await printUsage(rawArgs, 2);
      return EXIT_USAGE;
    }
    if (await runQuick(rawArgs)) return 0;
    await refuseFlagBeforeCommand(main, rawArgs);
    await (await citty()).runCommand(main, { rawArgs });
    // A command that failed and said so in its own words (`ivsh bridge` on a full queue) set it.
    return typeof process.exitCode === "number" ? process.exitCode : 0;
  } catch (error) {
    return report(error, rawArgs);
  }
}

async function report(error: unknown, rawArgs: string[]): Promise<number> {
  const cliError = error instanceof Error && error.name === "CLIError";
  // `ivsh guest` alone: what it offers is the answer (on stderr, as `ivsh` alone).
  if (cliError && (error as Error & { code?: string }).code === "E_NO_COMMAND") {
    try {
      await printUsage(rawArgs, 2);
    } catch (printing) {
      return report(printing, rawArgs); // a stderr that cannot take it (>&-, full): said, not a crash
    }
    return EXIT_USAGE;
  }
  if (error instanceof UsageError || cliError) {
    const message = (await optionOfOthers(error)) ?? usageMessage(error as Error);
    const word = /^Unknown command '(.+)'$/.exec(message)?.[1];
    const nested = await nestedCommand(word);
    // `ivsh send` on the host: the note is for a word right but for its group, not for a typo.
    const onHost = nested?.startsWith("ivsh guest ") ? " (guest commands run on the host too)" : "";
    // `ivsh version`, as some tools spell it: the flag is meant.
    const meant = nested ?? (word === "version" ? "ivsh --version" : await commandMeant(word, rawArgs));
    const said = meant ? `${message}: did you mean '${meant}'?${onHost}` : message;
    log.error(said);
    await tellServiceManager(rawArgs, said);
    const { command, path } = await resolveCommand(main, rawArgs);
    // Refused before the command ran: its --json document is written here (after, the command wrote it).
    if (!commandRunning())
      await (await import("./commands/_usage-json.ts")).writeUsageJson(
        command,
        path,
        rawArgs,
        message,
        error instanceof MissingValue ? error.flag : undefined,
      );
    // A group (ivsh, ivsh guest) has commands to see, no options.
    const unknown =
      (error as Error & { code?: string }).code === "E_UNKNOWN_COMMAND" || command.subCommands !== undefined;
    writeStandard(2, `Run '${path.join(" ")} --help' to see the ${unknown ? "commands" : "options"}.\n`);
    return EXIT_USAGE;
  }
  return reportFailure(error, rawArgs);
}

/** A failure the command did not say in its own words: the library's error, or a bug with its stack. */
async function reportFailure(error: unknown, rawArgs: string[]): Promise<number> {
  if (error instanceof IvshError) {
    // Stopped by the user's signal: no failure, said without the ERROR label (the exit code says it).
    if (error.code === "Interrupted" && receivedStopSignal()) log.notice(error.message);
    else log.error(error.message);
    await tellServiceManager(rawArgs, forCommands(error.message));
    return error.code === "Interrupted" ? interruptedExitCode() : EXIT_FAILED;
  }
  const described = describeSystemError(error);
  log.error(described ?? error);
  await tellServiceManager(rawArgs, described ?? (error instanceof Error ? error.message : String(error)));
  return EXIT_FAILED;
}

let bugOutside = false;

/**
 * A bug thrown outside the command's awaited run (a timer's or a socket handler's callback, a promise no
 * one awaits): Bun printed it itself, bypassing the log (in the journal every line of it at info, not
 * err) and telling the service manager nothing, let the command go on, and exited 1 at its end. It is
 * reported as report() reports a bug, STATUS= too for `ivsh host`; the command still goes on and ends 1.
 */
function reportBugsOutside(rawArgs: string[]): void {
  const bug = (error: unknown) => {
    bugOutside = true;
    // After the command's end (a timer it left) run() has set the exit code already.
    if (!process.exitCode) process.exitCode = EXIT_FAILED;
    // A report that fails is said once, plainly (a thrown object whose message getter throws), and not
    // reported in turn: with stderr on a full disk (ENOSPC) its rejection came back here, for ever.
    reportFailure(error, rawArgs).catch((failed) => {
      try {
        log.error(failed);
      } catch {}
    });
  };
  process.on("uncaughtException", bug);
  process.on("unhandledRejection", bug);
}

/**
 * `ivsh host` under systemd (NOTIFY_SOCKET): the error it failed on as STATUS=, which `systemctl status`
 * keeps on a failed unit's Status: line after Restart='s retries pushed the error's journal line out of
 * view. Said here, not in the command: an unknown option in IVSH_HOST_OPTS is refused before it runs.
 */
async function tellServiceManager(rawArgs: string[], message: string): Promise<void> {
  if (!process.env.NOTIFY_SOCKET) return;
  const { path } = await resolveCommand(main, rawArgs);
  if (path.join(" ") === "ivsh host")
    (await import("./host/systemd.ts")).notifyServiceManager({ STATUS: message });
}

/**
 * A flag before the command it is for (`ivsh -q host`, `ivsh guest --json send`): ivsh and its groups take
 * none, and citty dropped it while the command ran without it (`ivsh --version host` started an arbiter).
 */
async function refuseFlagBeforeCommand(command: CommandDef, words: string[], path = ["ivsh"]): Promise<void> {
  const subCommands =
    typeof command.subCommands === "function" ? await command.subCommands() : await command.subCommands;
  // The command itself: its words are checked before citty, which reports a missing --vm before a typo.
  if (!subCommands) return checkWords(command, words);
  // The command: the first word that names one (a flag's value, `--socket PATH`, may come before it).
  const at = words.findIndex((word) => !word.startsWith("-") && Object.hasOwn(subCommands, word));
  const firstWord = words.findIndex((word) => !word.startsWith("-"));
  const before = words.slice(0, at >= 0 ? at : firstWord >= 0 ? firstWord : words.length);
  const flag = before.find((word) => word.startsWith("-"));
  if (flag !== undefined) {
    const where = `'${path.join(" ")}' takes no options of its own`;
    if (at < 0)
      throw new UsageError(`Failed to use ${flag} since ${where}: name a command, and its options after it`);
    const instead = [...path, ...words.slice(at), ...before].join(" ");
    throw new UsageError(
      `Failed to use ${flag} since it comes before the command: ${where}, put it after the command it is for (${instead})`,
    );
  }
  // citty takes the first word, found with `in`: one only Object has (constructor, toString) ran as a
  // command, even with a command named after it (`ivsh constructor host`).
  const word = words[firstWord];
  if (word !== undefined && word in subCommands && !Object.hasOwn(subCommands, word))
    throw new UsageError(`Unknown command ${word}`);
  if (at < 0) return; // no command, or an unknown one: citty says so
  const next = subCommands[words[at]!]!;
  const resolved = (typeof next === "function" ? await next() : await next) as CommandDef;
  await refuseFlagBeforeCommand(resolved, words.slice(at + 1), [...path, words[at]!]);
}

/**
 * `guest send` / `recv` whose words are in the plain shapes ./commands/_quick-args.ts reads, run as citty
 * would run them (its parse, then the command's plugins, whose checks such words pass, then its run)
 * without loading citty: ~2 ms of a 1 KiB transfer's start. False for any other command line.
 */
async function runQuick(rawArgs: string[]): Promise<boolean> {
  const name = rawArgs[1];
  if (rawArgs[0] !== "guest" || name === undefined || !Object.hasOwn(guestCommands, name)) return false;
  // Each command's run takes its own arguments' type; quickArgs gives what citty's parse would.
  const command = guestCommands[name as keyof typeof guestCommands] as unknown as CommandDef;
  const words = rawArgs.slice(2);
  const args = quickArgs(command.args as ArgsDef, words);
  if (args === undefined || typeof command.run !== "function") return false;
  await command.run({ rawArgs: words, args: args as ParsedArgs, cmd: command });
  return true;
}

/** `ivsh send`: the command of a group ("ivsh guest send") that a top-level word names, if any. */
async function nestedCommand(word: string | undefined): Promise<string | undefined> {
  if (word === undefined) return undefined;
  for (const group of ["guest", "example"]) {
    const { command, path } = await resolveCommand(main, [group, word]);
    if (path.length === 3 && command.subCommands === undefined) return path.join(" ");
  }
  return undefined;
}

/** `ivsh stauts`: the command of the group it was typed in that the word is a typo of, if any. */
async function commandMeant(word: string | undefined, rawArgs: string[]): Promise<string | undefined> {
  if (word === undefined) return undefined;
  const { command, path } = await resolveCommand(main, rawArgs);
  const subCommands =
    typeof command.subCommands === "function" ? await command.subCommands() : await command.subCommands;
  const visible: string[] = [];
  for (const [name, sub] of Object.entries(subCommands ?? {})) {
    const resolved = (typeof sub === "function" ? await sub() : await sub) as CommandDef;
    const meta = typeof resolved.meta === "function" ? await resolved.meta() : await resolved.meta;
    if (!meta?.hidden) visible.push(name);
  }
  const meant = closestWord(word, visible);
  return meant === undefined ? undefined : [...path, meant].join(" ");
}

/**
 * `ivsh bench --quiet`: an option other commands take, spelled right, is said to be theirs rather than
 * taken for a typo of one of this command's ("did you mean --quick?": a shorter benchmark, not a quieter one).
 */
async function optionOfOthers(error: unknown): Promise<string | undefined> {
  if (!(error instanceof UnknownOption)) return undefined;
  const { allCommands, commandTree } = await import("./commands/_tree.ts");
  const takers = allCommands(await commandTree(main))
    .filter((command) => command.flags.some((flag) => [flag.name, ...flag.aliases].includes(error.flag)))
    .map((command) => `'${["ivsh", ...command.path].join(" ")}'`);
  return takers.length === 0
    ? undefined
    : `Unknown option ${error.token} (an option of ${takers.join(", ")})`;
}

/** citty's "Unknown command hots" (its name coloured), quoted as ivsh quotes what the user typed. */
function usageMessage(error: Error): string {
  const plain = error.message.replace(/\x1b\[[0-9;]*m/g, "");
  return plain.replace(/^Unknown command (\S+)$/, "Unknown command '$1'");
}

/** `ivsh help guest send` = `ivsh guest send --help`; a word that names no command is a usage error. */
async function printHelp(rawWords: string[]): Promise<number> {
  // `ivsh help --help` asks for help too: flags name no command.
  const words = rawWords.filter((word) => !word.startsWith("-"));
  const { command, path } = await resolveCommand(main, words);
  const unknown = words[path.length - 1];
  // `ivsh help status send`: a command without subcommands has none to suggest (another group's would mislead).
  if (unknown !== undefined && command.subCommands === undefined) {
    log.error(
      `There is no command '${[...path, unknown].join(" ")}': '${path.join(" ")}' has no subcommands`,
    );
    writeStandard(2, `Its help is '${path.join(" ")} --help'.\n`);
    return EXIT_USAGE;
  }
  if (unknown !== undefined) {
    const meant = (await nestedCommand(unknown)) ?? (await commandMeant(unknown, words));
    log.error(
      `There is no command '${[...path, unknown].join(" ")}'${meant ? `: did you mean '${meant}'?` : ""}`,
    );
    writeStandard(2, `Run '${path.join(" ")} --help' to see the commands.\n`);
    return EXIT_USAGE;
  }
  await printUsage(words);
  return 0;
}

/**
 * The usage of the command `rawArgs` names, on `fd`: stdout for --help, stderr for a usage error (no
 * command given). Without colour unless `fd` is a terminal.
 */
async function printUsage(rawArgs: string[], fd: 1 | 2 = 1): Promise<void> {
  const { command, path } = await resolveCommand(main, rawArgs);
  // citty names a command by its parent's name and its own ("guest send"): the whole path is what a user
  // types ("ivsh guest send").
  const named = path.length > 1 ? { meta: { name: path.slice(0, -1).join(" ") } } : undefined;
  const usage = tidyUsage(await (await citty()).renderUsage(command, named));
  const colour = isTerminal(fd) && !process.env.NO_COLOR && process.env.TERM !== "dumb";
  writeStandard(fd, `${colour ? usage : Bun.stripANSI(usage)}\n`);
}

/**
 * One way of saying a default: citty's "(Default: X)" as the descriptions say it, "(default X)", a word
 * quoted ("(default 'default')"), none for a switch; and no padding after the last column (citty pads every line to the
 * widest).
 */
function tidyUsage(usage: string): string {
  return usage
    .replace(/ ?(?:\x1b\[[0-9;]*m)?\(Default: false\)(?:\x1b\[[0-9;]*m)?/g, "") // a switch is off unless given: saying so is noise
    .replace(/\(Default: ([^)]*)\)/g, (_all, value: string) =>
      /^[A-Za-z_-]+$/.test(value) ? `(default '${value}')` : `(default ${value})`,
    )
    .split("\n")
    .map((line) => line.replace(/\s+((?:\x1b\[[0-9;]*m)*)$/, "$1")) // spaces before a closing colour code too
    .join("\n");
}

/** The subcommand `rawArgs` names, its parent, and the words that name it ("ivsh guest send"). */
async function resolveCommand(
  command: CommandDef,
  rawArgs: string[],
  parent?: CommandDef,
  path: string[] = ["ivsh"],
): Promise<{ command: CommandDef; parent?: CommandDef; path: string[] }> {
  const subCommands =
    typeof command.subCommands === "function" ? await command.subCommands() : await command.subCommands;
  const name = rawArgs.find((arg) => !arg.startsWith("-"));
  // Its own commands only: a plain lookup finds what every object has too (constructor, toString).
  const next = name !== undefined && subCommands && Object.hasOwn(subCommands, name) && subCommands[name];
  if (!next || name === undefined) return parent ? { command, parent, path } : { command, path };
  const resolved = (typeof next === "function" ? await next() : await next) as CommandDef;
  return resolveCommand(resolved, rawArgs.slice(rawArgs.indexOf(name) + 1), command, [...path, name]);
}

if (import.meta.main) process.exitCode = await run(process.argv.slice(2));
