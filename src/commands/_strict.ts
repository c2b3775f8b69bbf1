/**
 * citty accepts any flag; ivsh refuses what it does not know, so a typo (`--blocksize`) is an error that
 * names the flag instead of a silently ignored default.
 */
import type { ArgsDef, CittyPlugin, CommandDef } from "citty";
import { closestWord } from "./_suggest.ts";

/** The command line is wrong (exit 2): an unknown flag, a missing argument, a value a flag refuses. */
export class UsageError extends Error {}

/** An option the command does not take (`--jsn`), with the one of its own it is a typo of, if any. */
export class UnknownOption extends UsageError {
  constructor(
    readonly token: string,
    readonly flag: string,
    meant: string | undefined,
  ) {
    super(`Unknown option ${token}${meant === undefined ? "" : `: did you mean --${meant}?`}`);
  }
}

/** A flag that takes a value given none (`--channel` last): `flag` as typed, for --json to name. */
export class MissingValue extends UsageError {
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(message);
  }
}

/** Every name a flag goes by, without its dashes: `name`, `kebab-name` and its aliases. */
export function namesOf(name: string, def: ArgsDef[string]): string[] {
  const kebab = name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
  const alias = "alias" in def ? def.alias : undefined;
  const aliases = alias === undefined ? [] : Array.isArray(alias) ? alias : [alias];
  return [name, kebab, ...aliases];
}

function knownFlags(args: ArgsDef): Set<string> {
  const known = new Set(["help", "h"]);
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    for (const flag of namesOf(name, def)) {
      known.add(flag);
      if (def.type === "boolean") known.add(`no-${flag}`);
    }
  }
  return known;
}

/** The string-valued flags by every name they go by, with their hint. */
function valueFlags(args: ArgsDef): Map<string, string> {
  const flags = new Map<string, string>();
  for (const [name, def] of Object.entries(args)) {
    if (def.type !== "string") continue;
    const hint = ("valueHint" in def && def.valueHint) || "VALUE";
    for (const flag of namesOf(name, def)) flags.set(flag, hint.toUpperCase());
  }
  return flags;
}

/**
 * A switch given a value: citty turns on `--force=no` (any value but "false"), so a user who wrote it to
 * keep a file would lose it. Only `=true` and `=false` mean what they say; anything else is refused.
 */
function checkSwitches(rawArgs: readonly string[], args: ArgsDef, valued: Map<string, string>): void {
  const switches = new Set(
    Object.entries(args)
      .filter(([, def]) => def.type === "boolean")
      .flatMap(([name, def]) => namesOf(name, def).flatMap((flag) => [flag, `no-${flag}`])),
  );
  for (let index = 0; index < rawArgs.length; index++) {
    const token = rawArgs[index]!;
    if (token === "--") return;
    if (!token.startsWith("-") || token === "-" || /^-\d/.test(token)) continue;
    const [flag = "", inline] = token.replace(/^--?/, "").split(/=(.*)/s);
    // The next word is this flag's value (`--channel -q=1`), not a flag of its own.
    if (valued.has(flag) && inline === undefined) index++;
    if (!switches.has(flag) || inline === undefined || inline === "true" || inline === "false") continue;
    const named = `${token.startsWith("--") ? "--" : "-"}${flag}`;
    throw new UsageError(
      `${token}: ${named} is a switch, its only values true and false: write ${named} alone`,
    );
  }
}

/**
 * A flag that takes a value but got none: citty would take the next flag as its value (`--json --quick`
 * wrote a file named "--quick"), or give an empty string that reads as "not given".
 */
function checkValues(rawArgs: readonly string[], flags: Map<string, string>): void {
  for (let index = 0; index < rawArgs.length; index++) {
    const token = rawArgs[index]!;
    if (token === "--") return;
    if (!token.startsWith("-") || token === "-" || /^-\d/.test(token)) continue;
    const [flag = "", inline] = token.replace(/^--?/, "").split(/=(.*)/s);
    const hint = flags.get(flag);
    if (hint === undefined) continue;
    if (inline !== undefined) continue; // `--flag=` is the flag's own to judge (an empty name, size, ...)
    const value = rawArgs[index + 1];
    const given = token;
    if (value === undefined) throw new MissingValue(given, `${given} needs a value: ${given}=${hint}`);
    if (value.startsWith("--"))
      throw new MissingValue(
        given,
        `${given} needs a value, and the flag ${value} follows it: write ${given}=${hint} (or ${given}=${value} for a value that starts with --)`,
      );
    index++; // the value is the flag's, not a flag of its own
  }
}

/** What stands in process.argv where an argument's bytes were not UTF-8 (the runtime decodes it so). */
const REPLACED = "\uFFFD";

/** The name of the command's `position`th positional argument as its usage shows it (FILE). */
function positionalName(def: ArgsDef, position: number): string {
  const positional = Object.entries(def).filter(([, arg]) => arg.type === "positional")[position];
  return positional ? positional[0].toUpperCase() : `argument ${position + 1}`;
}

/**
 * An argument that was not valid UTF-8 reaches ivsh with U+FFFD in place of its bad bytes, so two
 * different names ("c\xfe", "c\xff") would read as one and a file's name would name another file:
 * refused, naming the argument, before anything is opened.
 */
function checkEncoding(rawArgs: readonly string[], args: ArgsDef, flags: Map<string, string>): void {
  let positional = 0;
  let afterDashes = false;
  for (let index = 0; index < rawArgs.length; index++) {
    const token = rawArgs[index]!;
    let named: string | undefined;
    let value = token;
    if (!afterDashes && token === "--") {
      afterDashes = true;
      continue;
    }
    if (!afterDashes && token.startsWith("-") && token !== "-" && !/^-\d/.test(token)) {
      const [flag = "", inline] = token.replace(/^--?/, "").split(/=(.*)/s);
      named = `${token.startsWith("--") ? "--" : "-"}${flag}`;
      if (inline !== undefined) value = inline;
      else if (flags.has(flag)) value = rawArgs[++index] ?? "";
    } else named = positionalName(args, positional++);
    if (value.includes(REPLACED)) throw notUtf8(named, value, flags.get(named.replace(/^--?/, "")));
  }
}

function notUtf8(named: string, value: string, hint: string | undefined): UsageError {
  return new UsageError(
    `Failed to use ${named} '${value}' since it is not valid UTF-8 (${REPLACED} marks its bad bytes): ` +
      `ivsh cannot take names that are not UTF-8, as two such names would read as one; ${utf8Advice(named, hint)}`,
  );
}

/** What to do instead: a file can be renamed, or its bytes go through stdin or stdout. */
function utf8Advice(named: string, hint: string | undefined): string {
  if (named === "FILE") return "rename the file, or send it via stdin (ivsh guest send - < FILE)";
  if (named === "--out")
    return "use a UTF-8 name and rename it afterwards, or receive to stdout (--out - > FILE)";
  if (hint === undefined || /FILE|PATH|DIR/.test(hint)) return "rename it, or use a UTF-8 path";
  return "use a UTF-8 name";
}

/**
 * A word like `-5` that is no flag's value: citty reads it as flags ("5"), which no command has, and ran
 * the command without it (`ivsh host -5` started an arbiter; `guest send -5` said FILE was missing).
 */
function checkNumberWords(rawArgs: readonly string[], args: ArgsDef, flags: Map<string, string>): void {
  const positionals = Object.entries(args).filter(([, def]) => def.type === "positional");
  let given = 0; // arguments before the word: it stands where the next one goes
  for (let index = 0; index < rawArgs.length; index++) {
    const token = rawArgs[index]!;
    if (token === "--") return;
    if (/^-\d/.test(token)) throw new UsageError(numberWordRefused(token, positionals[given]));
    if (!token.startsWith("-") || token === "-") {
      given++;
      continue;
    }
    const [flag = "", inline] = token.replace(/^--?/, "").split(/=(.*)/s);
    if (flags.has(flag) && inline === undefined) index++; // its value may be -5 (refused by the flag itself)
  }
}

/** What `-5` standing where `positional` goes (or where none does) should have been. */
function numberWordRefused(token: string, positional: [string, ArgsDef[string]] | undefined): string {
  let instead = "a value goes right after the flag it is for (--flag VALUE)";
  if (positional) {
    const name = positional[0].toUpperCase();
    // ./-5 only for a file: a count or a shell's name is no path.
    const path = /file/i.test(positional[1].description ?? "") ? ` or as ./${token}` : "";
    instead = `${/^[AEIOU]/.test(name) ? "an" : "a"} ${name} named ${token} goes after -- (-- ${token})${path}`;
  }
  return `Failed to use '${token}' since it reads as an option, and no option is named so: ${instead}`;
}

/**
 * The checks of the words alone, before citty parses them: run from the CLI before citty's own check of
 * required arguments (whose "Missing required argument: --vm" hid the typo `--vn`), and again as a plugin.
 */
export async function checkWords(cmd: CommandDef, rawArgs: readonly string[]): Promise<void> {
  // Only a strict command: bench-worker's roles read their own flags.
  if (!(Array.isArray(cmd.plugins) && cmd.plugins.includes(strictFlags))) return;
  const args = ((await (typeof cmd.args === "function" ? cmd.args() : cmd.args)) ?? {}) as ArgsDef;
  const known = knownFlags(args);
  for (const token of rawArgs) {
    if (token === "--") break;
    if (!token.startsWith("-") || token === "-" || /^-\d/.test(token)) continue;
    const flag = token.replace(/^--?/, "").split("=")[0] ?? "";
    if (!known.has(flag)) throw new UnknownOption(token, flag, optionMeant(flag, known));
  }
  const flags = valueFlags(args);
  checkEncoding(rawArgs, args, flags);
  checkValues(rawArgs, flags);
  checkSwitches(rawArgs, args, flags);
  checkNumberWords(rawArgs, args, flags);
}

/** `json` for `--jsn`: among the long, kebab-case names (one letter is no spelling). */
function optionMeant(flag: string, known: Set<string>): string | undefined {
  return closestWord(
    flag,
    [...known].filter((name) => name.length > 1 && !name.startsWith("no-") && !/[A-Z]/.test(name)),
  );
}

const strictFlags: CittyPlugin = {
  name: "strict-flags",
  async setup(context) {
    await checkWords(context.cmd, context.rawArgs);
    const args =
      (await (typeof context.cmd.args === "function" ? context.cmd.args() : context.cmd.args)) ?? {};
    const positionals = Object.values(args as ArgsDef).filter((def) => def.type === "positional").length;
    const extra = context.args._.slice(positionals);
    if (extra.length > 0) throw new UsageError(`Unexpected argument '${extra[0]}'`);
  },
};

let running = false;

/** Whether a leaf command's run() has begun: what fails from then on is the command's to report (--json too). */
export function commandRunning(): boolean {
  return running;
}

/**
 * defineCommand for a leaf command: unknown flags and extra arguments are usage errors. Without citty's
 * defineCommand (which returns its argument), so `guest send` / `recv` load without citty (src/cli.ts).
 */
export function defineLeafCommand<const T extends ArgsDef>(def: CommandDef<T>): CommandDef<T> {
  const run = def.run;
  return {
    ...def,
    plugins: [...(def.plugins ?? []), strictFlags],
    run:
      run &&
      ((context) => {
        running = true;
        return run(context);
      }),
  };
}
