/**
 * `guest send` / `recv` without citty: their command lines in the plain shapes users type, parsed from the
 * commands' own declarations (./guest-send.ts, ./guest-recv.ts, ./_args.ts) into what citty's parse gives.
 * citty and the node:util it loads cost a 1 KiB transfer ~2 ms per process (docs/bench/transfer-path.md).
 *
 * Only words whose meaning is beyond doubt take this path: `--flag VALUE`, `--flag=VALUE`, a switch alone
 * (`--json`, `-q`), each flag at most once, and exactly the command's positional arguments. Anything else
 * (`--`, `--no-json`, `--json=false`, an unknown or repeated flag, a value that starts with a dash, an empty
 * word, one that was not UTF-8, a missing or extra argument, --help) returns undefined, and the command
 * goes through citty and ./_strict.ts as before, which accept it or say what is wrong.
 * test/quick-args.test.ts checks both parses agree wherever this one answers.
 */
import type { ArgDef, ArgsDef } from "citty";

/** What stands in process.argv where an argument's bytes were not UTF-8 (./_strict.ts refuses it). */
const REPLACED = "\uFFFD";

/** A declared flag's name in camelCase, which citty's parse sets too ("chunk-size" → "chunkSize"). */
const camel = (name: string) => name.replace(/-([a-z0-9])/g, (_all, letter: string) => letter.toUpperCase());

/** Every key citty's parse gives a flag's value under: its name, its aliases, its camelCase name. */
function keysOf(name: string, def: ArgDef): string[] {
  const alias = "alias" in def ? def.alias : undefined;
  const aliases = alias === undefined ? [] : Array.isArray(alias) ? alias : [alias];
  return [...new Set([name, ...aliases, camel(name)])];
}

/**
 * The parsed arguments of a leaf command's `words` (those after its name), as citty's `parseArgs` gives
 * them, or undefined when the words are not in one of the plain shapes above.
 */
export function quickArgs(def: ArgsDef, words: readonly string[]): Record<string, unknown> | undefined {
  const positionals: string[] = [];
  const flags = new Map<string, string>(); // every way to type a flag → its declared name
  for (const [name, arg] of Object.entries(def)) {
    if (!/^[a-z][a-z0-9-]*$/.test(name)) return undefined;
    if (arg.type === "positional") positionals.push(name);
    else if (arg.type !== "string" && arg.type !== "boolean") return undefined;
    else
      for (const key of keysOf(name, arg))
        if (key === name || key.length === 1) flags.set(key.length === 1 ? `-${key}` : `--${key}`, name);
  }
  const given = new Map<string, string | boolean>();
  const operands: string[] = [];
  for (let index = 0; index < words.length; index++) {
    const word = words[index]!;
    if (word === "" || word.includes(REPLACED)) return undefined;
    if (!word.startsWith("-") || word === "-") {
      operands.push(word);
      continue;
    }
    const [flag = "", inline] = word.split(/=(.*)/s);
    const name = flags.get(flag);
    if (name === undefined || given.has(name)) return undefined;
    // citty reads `-c=VALUE` as the value "=VALUE": not a plain shape.
    if (inline !== undefined && !flag.startsWith("--")) return undefined;
    if (def[name]!.type === "boolean") {
      if (inline !== undefined) return undefined;
      given.set(name, true);
      continue;
    }
    const value = inline ?? words[++index];
    if (value === undefined || value === "" || value.includes(REPLACED)) return undefined;
    if (value.startsWith("-") && value !== "-" && inline === undefined) return undefined;
    given.set(name, value);
  }
  if (operands.length !== positionals.length) return undefined;
  const args: Record<string, unknown> = { _: operands };
  for (const [name, arg] of Object.entries(def)) {
    if (arg.type === "positional") continue;
    const value = given.get(name) ?? arg.default;
    if (value !== undefined) for (const key of keysOf(name, arg)) args[key] = value;
  }
  positionals.forEach((name, at) => {
    args[name] = operands[at];
  });
  return args;
}
