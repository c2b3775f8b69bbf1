/**
 * The CLI's commands and flags as data, read from the command definitions themselves: what shell
 * completion (./completion.ts) and the man page (scripts/man.ts) are made from, so neither can drift
 * from `--help`. Hidden commands (the benchmark's and the arbiter's helpers) are left out.
 */
import type { ArgDef, CommandDef } from "citty";

export interface FlagInfo {
  /** The long name, as typed: "chunk-size". */
  name: string;
  aliases: string[];
  /** Whether it takes a value (--name VALUE) or is a switch. */
  takesValue: boolean;
  valueHint: string | undefined;
  description: string;
  defaultValue: string | undefined;
  /** The values it takes, when its value hint lists them ("error|warn|info|debug"). */
  choices: string[] | undefined;
}

export interface CommandInfo {
  /** The words after `ivsh` that name it: [] for ivsh itself, ["guest", "send"]. */
  path: string[];
  description: string;
  /** Positional arguments, by their names (FILE). */
  positionals: { name: string; description: string; required: boolean; choices: string[] | undefined }[];
  flags: FlagInfo[];
  children: CommandInfo[];
}

async function resolve<T>(value: T | Promise<T> | (() => T | Promise<T>)): Promise<T> {
  return typeof value === "function" ? await (value as () => T | Promise<T>)() : await value;
}

/**
 * A value hint that lists literal values ("bash|zsh|fish": lower-case words) is the argument's fixed set
 * of choices; one that names placeholders ("FILE|-") is not.
 */
function choicesOf(def: ArgDef): string[] | undefined {
  const values = def.valueHint?.split("|");
  if (!values || values.length < 2 || !values.every((value) => /^[a-z][a-z0-9-]*$/.test(value)))
    return undefined;
  return values;
}

function flagOf(name: string, def: ArgDef): FlagInfo {
  const alias = "alias" in def ? def.alias : undefined;
  return {
    name,
    aliases: alias === undefined ? [] : Array.isArray(alias) ? alias : [alias],
    takesValue: def.type !== "boolean",
    valueHint: def.valueHint,
    description: def.description ?? "",
    defaultValue: def.default === undefined ? undefined : String(def.default),
    choices: choicesOf(def),
  };
}

/** The command tree under `command`, hidden commands left out. */
export async function commandTree(command: CommandDef, path: string[] = []): Promise<CommandInfo> {
  const meta = (await resolve(command.meta)) ?? {};
  const args = ((await resolve(command.args)) ?? {}) as Record<string, ArgDef>;
  const subCommands = (await resolve(command.subCommands)) ?? {};
  const children: CommandInfo[] = [];
  for (const [name, sub] of Object.entries(subCommands)) {
    const child = (await resolve(sub)) as CommandDef;
    const childMeta = (await resolve(child.meta)) ?? {};
    if (!childMeta.hidden) children.push(await commandTree(child, [...path, name]));
  }
  const entries = Object.entries(args);
  return {
    path,
    description: meta.description ?? "",
    positionals: entries
      .filter(([, def]) => def.type === "positional")
      .map(([name, def]) => ({
        name: name.toUpperCase(),
        description: def.description ?? "",
        required: def.required !== false,
        choices: choicesOf(def),
      })),
    flags: entries.filter(([, def]) => def.type !== "positional").map(([name, def]) => flagOf(name, def)),
    children,
  };
}

/** Every command of the tree, parents before their children. */
export function allCommands(root: CommandInfo): CommandInfo[] {
  return [root, ...root.children.flatMap(allCommands)];
}
