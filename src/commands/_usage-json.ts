/**
 * --json on a command line refused before its command ran (an unknown flag, a missing FILE, a stray
 * argument): a script that reads one JSON document on success or failure gets one here too, on the
 * stream the command would have used. A value the command itself refuses, it reports itself.
 */
import { type ArgsDef, type CommandDef, parseArgs } from "citty";
import { writeStandard } from "../log.ts";
import { descriptorNamed } from "../transfer/io.ts";
import { errorFields, writeFailureJson } from "./_progress.ts";
import { MissingValue, namesOf, UsageError } from "./_strict.ts";

/** Writes the failure as `ivsh guest send` / `recv` / `status` with --json would; nothing for others. */
export async function writeUsageJson(
  command: CommandDef,
  path: string[],
  rawArgs: string[],
  message: string,
  /** A flag given no value (MissingValue): named in the error, its field null rather than "" or a default. */
  missing?: string,
): Promise<void> {
  const name = path.slice(1).join(" ");
  if (name !== "guest send" && name !== "guest recv" && name !== "status") return;
  const words = withoutCommand(rawArgs, path.slice(1));
  // Without it the next flag (`--channel --json`) reads as a flag, not as the value it did not get.
  const args = await leniently(command, missing === undefined ? words : withoutFlag(words, missing));
  if (args?.json !== true) return;
  const error = missing === undefined ? new UsageError(message) : new MissingValue(missing, message);
  const unset = missing === undefined ? undefined : await argumentNamed(command, missing);
  const channel = unset === "channel" ? null : typeof args.channel === "string" ? args.channel : "default";
  if (name === "guest send")
    writeFailureJson(
      1,
      { role: "send", channel, file: typeof args.file === "string" ? args.file : "" },
      error,
    );
  else if (name === "guest recv") {
    const out = typeof args.out === "string" && args.out !== "" ? args.out : "-";
    const fd = out === "-" || descriptorNamed(out) === 1 ? 2 : 1;
    writeFailureJson(fd, { role: "recv", channel, file: unset === "out" ? null : out }, error);
  } else {
    try {
      writeStandard(1, `${JSON.stringify({ error: errorFields(error) })}\n`);
    } catch {
      // A stdout that cannot take it (closed, full): stderr reports the error itself.
    }
  }
}

/**
 * The words after the command's own (`guest`, `send`), wherever they stood; those after `--` too, which
 * the parse takes as arguments (a FILE named -x), never as flags (a file named --json).
 */
function withoutCommand(rawArgs: string[], names: string[]): string[] {
  const words = [...rawArgs];
  for (const name of names) {
    const at = words.indexOf(name);
    if (at >= 0) words.splice(at, 1);
  }
  return words;
}

/** `words` without the flag that was given no value (the last, or one a flag follows). */
function withoutFlag(words: string[], flag: string): string[] {
  const at = words.findIndex((word, index) => word === flag && (words[index + 1] ?? "--").startsWith("--"));
  return at < 0 ? words : words.toSpliced(at, 1);
}

/** The argument (its key in the command's args) that `flag` (`--channel`, `-q`) names. */
async function argumentNamed(command: CommandDef, flag: string): Promise<string | undefined> {
  const defs = ((await (typeof command.args === "function" ? command.args() : command.args)) ??
    {}) as ArgsDef;
  const bare = flag.replace(/^--?/, "");
  return Object.entries(defs).find(([key, def]) => namesOf(key, def).includes(bare))?.[0];
}

/**
 * The flags as far as they can be read from a refused line: nothing required, an unknown flag a switch
 * (so the word after it reads as an argument). Undefined if even that fails.
 */
async function leniently(command: CommandDef, words: string[]): Promise<Record<string, unknown> | undefined> {
  const defs = ((await (typeof command.args === "function" ? command.args() : command.args)) ??
    {}) as ArgsDef;
  const optional = Object.fromEntries(
    Object.entries(defs).map(([key, def]) => [key, { ...def, required: false }]),
  );
  try {
    return parseArgs(words, optional as ArgsDef) as Record<string, unknown>;
  } catch {
    return undefined;
  }
}
