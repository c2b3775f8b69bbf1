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
    const positionals = Object.values(args as ArgsDef).filter((def) => def.type === "positional").length;
    const extra = context.args._.slice(positionals);
    if (extra.length > 0) throw new UsageError(`Unexpected argument '${extra[0]}'`);
  },
};

/** defineCommand for a leaf command: unknown flags and extra arguments are usage errors. */
export function defineLeafCommand<const T extends ArgsDef>(def: CommandDef<T>): CommandDef<T> {
  return defineCommand({ ...def, plugins: [...(def.plugins ?? []), strictFlags] });
}
