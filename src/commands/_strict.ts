/**
 * citty accepts any flag; ivsh refuses what it does not know, so a typo (`--blocksize`) is an error that
 * names the flag instead of a silently ignored default.
 */
import type { ArgsDef, CittyPlugin, CommandDef } from "citty";
import { defineCommand } from "citty";

/** The command line is wrong (exit 2): an unknown flag, a missing argument, a value a flag refuses. */
export class UsageError extends Error {}

function knownFlags(args: ArgsDef): Set<string> {
  const known = new Set(["help", "h"]);
  for (const [name, def] of Object.entries(args)) {
    if (def.type === "positional") continue;
    const kebab = name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
    const alias = "alias" in def ? def.alias : undefined;
    const aliases = alias === undefined ? [] : Array.isArray(alias) ? alias : [alias];
    for (const flag of [name, kebab, ...aliases]) {
      known.add(flag);
      if (def.type === "boolean") known.add(`no-${flag}`);
    }
  }
  return known;
}

/** The string-valued flags by every name they go by (`--name`, `--kebab-name`, aliases), with their hint. */
function valueFlags(args: ArgsDef): Map<string, string> {
  const flags = new Map<string, string>();
  for (const [name, def] of Object.entries(args)) {
    if (def.type !== "string") continue;
    const kebab = name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
    const alias = "alias" in def ? def.alias : undefined;
    const aliases = alias === undefined ? [] : Array.isArray(alias) ? alias : [alias];
    const hint = ("valueHint" in def && def.valueHint) || "VALUE";
    for (const flag of [name, kebab, ...aliases]) flags.set(flag, hint.toUpperCase());
  }
  return flags;
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
    if (value === undefined) throw new UsageError(`${given} needs a value: ${given}=${hint}`);
    if (value.startsWith("--"))
      throw new UsageError(
        `${given} needs a value, and the flag ${value} follows it: write ${given}=${hint} (or ${given}=${value} for a value that starts with --)`,
      );
    index++; // the value is the flag's, not a flag of its own
  }
}

const strictFlags: CittyPlugin = {
  name: "strict-flags",
  async setup(context) {
    const args =
      (await (typeof context.cmd.args === "function" ? context.cmd.args() : context.cmd.args)) ?? {};
    const known = knownFlags(args as ArgsDef);
    for (const token of context.rawArgs) {
      if (token === "--") break;
      if (!token.startsWith("-") || token === "-" || /^-\d/.test(token)) continue;
      const flag = token.replace(/^--?/, "").split("=")[0] ?? "";
      if (!known.has(flag)) throw new UsageError(`Unknown option ${token}`);
    }
    checkValues(context.rawArgs, valueFlags(args as ArgsDef));
    const positionals = Object.values(args as ArgsDef).filter((def) => def.type === "positional").length;
    const extra = context.args._.slice(positionals);
    if (extra.length > 0) throw new UsageError(`Unexpected argument '${extra[0]}'`);
  },
};

/** defineCommand for a leaf command: unknown flags and extra arguments are usage errors. */
export function defineLeafCommand<const T extends ArgsDef>(def: CommandDef<T>): CommandDef<T> {
  return defineCommand({ ...def, plugins: [...(def.plugins ?? []), strictFlags] });
}
