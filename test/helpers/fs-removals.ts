/**
 * Finds removals through node:fs's rm and rmSync that are not recursive: Bun's (1.4.5) report unlink's
 * EPERM as EFAULT (rm, rm's promise and callback forms alike; unlinkSync and the recursive forms say
 * EPERM), so src/ removes single files with removeFile (src/remove-file.ts). Reached under another name
 * (`rmSync as remove`, `const remove = rmSync`), through a namespace (`fs.rmSync`, `promises.rm`) or with
 * `recursive: true` in a comment beside it, a call is found all the same.
 */

const FS_MODULE = /^(?:node:)?fs(?:\/promises)?$/;
const IMPORT = /\bimport\s+([^;"]*?)\s+from\s+"([^"]+)"\s*;?/g;

/** `text` with its comments blanked: a comment may name rmSync (to say why not) or `recursive: true`. */
function withoutComments(text: string): string {
  return text.replace(/(^|\s)\/\*[\s\S]*?\*\//g, "$1").replace(/(^|\s)\/\/[^\n]*/g, "$1");
}

/** The names this file's imports from node:fs give rm / rmSync; an alias is itself a finding. */
function fsNames(code: string, found: string[]): { names: Set<string>; holders: Set<string> } {
  const names = new Set(["rmSync"]);
  const holders = new Set(["promises"]);
  for (const [, clause = "", module = ""] of code.matchAll(IMPORT)) {
    if (!FS_MODULE.test(module)) continue;
    const whole = /^(?:\*\s+as\s+)?(\w+)/.exec(clause);
    if (whole?.[1]) holders.add(whole[1]);
    for (const specifier of /\{([^}]*)\}/.exec(clause)?.[1]?.split(",") ?? []) {
      const [name = "", alias] = specifier.trim().split(/\s+as\s+/);
      if (name !== "rm" && name !== "rmSync") continue;
      if (alias) found.push(`${name} imported as ${alias}`);
      names.add(name);
    }
  }
  return { names, holders };
}

/** The text between the parentheses opening at `open`, to the one closing them. */
function argumentsAt(code: string, open: number): string {
  let depth = 0;
  for (let at = open; at < code.length; at++) {
    if (code[at] === "(") depth++;
    else if (code[at] === ")" && --depth === 0) return code.slice(open + 1, at);
  }
  return code.slice(open + 1);
}

/** Each non-recursive use of node:fs's rm or rmSync in the source `text`, as its line. */
export function unsafeRemovals(text: string): string[] {
  const found: string[] = [];
  const whole = withoutComments(text);
  const { names, holders } = fsNames(whole, found);
  const code = whole.replace(IMPORT, (statement) => statement.replace(/[^\n]/g, " "));
  const member = [...holders].map((holder) => `\\b${holder}\\.rm\\b`).join("|");
  const named = [...names].map((name) => `(?<![.\\w])${name}\\b`).join("|");
  for (const use of code.matchAll(new RegExp(`\\brmSync\\b|${member}|${named}`, "g"))) {
    const after = use.index + use[0].length;
    const open = /^\s*\(/.exec(code.slice(after))?.[0].length;
    if (open !== undefined && /\brecursive\s*:\s*true\b/.test(argumentsAt(code, after + open - 1))) continue;
    const end = code.indexOf("\n", use.index);
    found.push(code.slice(code.lastIndexOf("\n", use.index) + 1, end === -1 ? undefined : end).trim());
  }
  return found;
}
