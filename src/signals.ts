/**
 * The stop signals (SIGHUP, SIGINT, SIGTERM) that were ignored when this process started, which it keeps
 * ignored (commands/_exit.ts), and passes on (SIGHUP, SIGINT) to the processes it starts. The kernel keeps a signal
 * ignored across exec, but Bun.spawn gives the child every signal at its default: a script's background
 * `ivsh host &` has SIGINT ignored, and its compaction helper did not, so a Ctrl-C meant for the script's
 * foreground job killed the helper. Such a child is started through `sh`, which ignores them again and
 * execs it (`keepingIgnored`): ignored from its first instruction, and for the programs it starts in turn.
 */
import { accessSync, constants, readFileSync } from "node:fs";

export const SIGNAL_NUMBERS = { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 } as const;
export type StopSignal = keyof typeof SIGNAL_NUMBERS;

let ignored: StopSignal[] | undefined;

/** What `keepingIgnored` starts a child through. */
const SHELL = "/bin/sh";

/**
 * The signals bin/ivsh.mjs's shell lines saw ignored in this very process (they exec Bun: the same pid), as
 * "PID:MASK" in IVSH_IGNORED_AT_EXEC. Bun drops an inherited ignore of SIGINT and SIGTERM when a standard
 * descriptor is a terminal (it catches them to restore the terminal's modes) before any code of ours runs,
 * and /proc shows them caught then. Not passed on: a child is another process. None for another pid (the
 * variable of a launcher further up) or without those lines (dist/ivsh: nothing of ours runs before Bun).
 */
const ignoredAtExec = ((setting = process.env.IVSH_IGNORED_AT_EXEC) => {
  const match = /^(\d+):([0-9a-f]+)$/i.exec(setting ?? "");
  return match && Number(match[1]) === process.pid ? BigInt(`0x${match[2]}`) : 0n;
})();
delete process.env.IVSH_IGNORED_AT_EXEC;

/**
 * The stop signals ignored when this process started. Read before the first listener, which would
 * replace the inherited disposition.
 */
export function ignoredAtStart(): StopSignal[] {
  if (ignored) return ignored;
  const mask = kernelIgnored() | ignoredAtExec;
  ignored = (Object.keys(SIGNAL_NUMBERS) as StopSignal[]).filter(
    (name) => (mask & (1n << BigInt(SIGNAL_NUMBERS[name] - 1))) !== 0n,
  );
  return ignored;
}

/**
 * The stop signals this process started with ignored that Bun has set to be caught since (see
 * `ignoredAtExec`), by number: for the CLI to ignore again before anything listens for them, so a Ctrl-C
 * meant for the terminal's foreground job leaves a background `ivsh` be, on a terminal as without one.
 * The system call is the CLI's (../commands/_hold-signals.ts): this file loads before the platform check,
 * and off Linux x86-64 the system calls' module throws as it loads.
 */
export function toIgnoreAgain(): number[] {
  const now = kernelIgnored();
  return ignoredAtStart()
    .map((name) => SIGNAL_NUMBERS[name])
    .filter((number) => (now & (1n << BigInt(number - 1))) === 0n);
}

/** The kernel's mask of ignored signals (bit n - 1 for signal n); none known without procfs. */
function kernelIgnored(): bigint {
  try {
    const match = /^SigIgn:\s*([0-9a-f]+)$/m.exec(readFileSync("/proc/self/status", "utf8"));
    return match ? BigInt(`0x${match[1]}`) : 0n;
  } catch {
    return 0n;
  }
}

/**
 * `command` for Bun.spawn, with the stop signals ignored at this process's start ignored in it too: run
 * by `sh`, which ignores them (`trap ''`) and execs it, so the pid is the command's. As is without any,
 * or without a /bin/sh to run.
 * SIGTERM is not passed on: no terminal sends it to a process group, and it is what ivsh stops its own
 * children with (src/bench/child.ts); ignoring it, they were killed after the grace, or left running.
 */
export function keepingIgnored(command: readonly string[]): string[] {
  const names = ignoredAtStart()
    .filter((name) => name !== "SIGTERM")
    .map((name) => name.slice(3));
  if (names.length === 0 || !shellRuns()) return [...command];
  return [SHELL, "-c", `trap '' ${names.join(" ")}; exec "$@"`, "sh", ...command];
}

/**
 * Whether SHELL can be run. Where it cannot (a minimal container running dist/ivsh), the child starts
 * without it, its signals at their default, rather than not at all.
 */
function shellRuns(): boolean {
  try {
    accessSync(SHELL, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}
