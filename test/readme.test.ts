/**
 * The README as a demanding reader takes it: the figures it gives from a benchmark run are in that run's
 * results file, and every `ivsh ...` command line it shows is one the CLI accepts (a command that exists,
 * flags it knows, no more arguments than it takes).
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import type { ArgsDef, CommandDef } from "citty";
import { main } from "../src/cli.ts";
import { checkWords } from "../src/commands/_strict.ts";
import { REPO } from "./helpers/paths.ts";

const README = readFileSync(join(REPO, "README.md"), "utf8");

// Figures, and the results files they come from ------------------------------------------------------

/** Each unit as a multiple of its kind's base: a rate is found among rates, a time among times. */
const UNITS: Record<string, { kind: string; scale: number }> = {
  "GB/s": { kind: "rate", scale: 1e9 },
  "MB/s": { kind: "rate", scale: 1e6 },
  s: { kind: "time", scale: 1 },
  ms: { kind: "time", scale: 1e-3 },
  µs: { kind: "time", scale: 1e-6 },
  ns: { kind: "time", scale: 1e-9 },
  "×": { kind: "ratio", scale: 1 },
  "%": { kind: "percent", scale: 1 },
};
const NUMBER = String.raw`\d+(?:\.\d+)?`;
const UNIT = String.raw`(GB\/s|MB\/s|ms|µs|ns|s|×|%)(?![\w/])`;
/**
 * A figure with its unit, or a list or range of them sharing one ("1.96 / 4.63 GB/s", "2.2–2.7 ms"). A
 * ratio the README works out itself from figures it gives is written in words ("4 times"), not with ×.
 */
const FIGURE = new RegExp(String.raw`((?:${NUMBER}\s?[/–]\s?)*)(${NUMBER})\s?${UNIT}`, "g");
/** A results file's second figure in brackets, of the same unit: "79.9 MB/s (176.3)". */
const BRACKETED = new RegExp(String.raw`${NUMBER}\s?${UNIT}\s\((${NUMBER})\)`, "g");
/** The files a benchmark run wrote, which the README cites. */
const RESULTS_FILE = /docs\/bench\/(?:vm\/)?(?:results(?:-[\w-]+)?|scale)\.md/g;
/** A clause whose figures come from elsewhere: a command it names, or another document. */
const OTHER_SOURCE = /`(bun |scripts\/|hyperfine|dd )|docs\/(?!bench\/)[\w/.-]+\.md/;

interface Figure {
  text: string;
  kind: string;
  value: number;
  /** Significant digits as written: how far a figure may be from the file's and still be it, rounded. */
  digits: number;
}

function figures(text: string): Figure[] {
  return [...text.matchAll(FIGURE)].flatMap(([, list, last, unit]) =>
    [...(list!.match(new RegExp(NUMBER, "g")) ?? []), last!].map((number) => ({
      text: `${number} ${unit}`,
      kind: UNITS[unit!]!.kind,
      value: Number(number) * UNITS[unit!]!.scale,
      digits: number.replace(".", "").replace(/^0+/, "").length,
    })),
  );
}

const resultsCache = new Map<string, Figure[]>();
function resultValues(file: string): Figure[] {
  let values = resultsCache.get(file);
  if (!values) {
    const text = readFileSync(join(REPO, file), "utf8");
    const bracketed = [...text.matchAll(BRACKETED)].flatMap(([, unit, number]) =>
      figures(`${number} ${unit}`),
    );
    values = [...figures(text), ...bracketed];
    resultsCache.set(file, values);
  }
  return values;
}

/** Whether `figure` is one of the file's, as the README rounded it (0.428 s is 428 ms, 4.90× is 4.9×). */
function foundIn(file: string, figure: Figure): boolean {
  const tolerance = figure.value * 0.5 * 10 ** -(Math.max(figure.digits, 2) - 1);
  return resultValues(file).some(
    (found) => found.kind === figure.kind && Math.abs(found.value - figure.value) <= tolerance * (1 + 1e-9),
  );
}

/**
 * Each figure of a paragraph, table or list item that cites a results file, with the file it cites: the
 * last one named so far in that block, else the first one the block names or, for a table or a block
 * that says "same run" or "that run", the one the block before it started with.
 */
function citedFigures(markdown: string): { figure: Figure; file: string; clause: string }[] {
  const cited: { figure: Figure; file: string; clause: string }[] = [];
  let previous: string | undefined;
  for (const block of markdown.split(/\n\s*\n|\n(?=- )/)) {
    const continues = block.trimStart().startsWith("|") || /same run|in that run/.test(block);
    let file = (continues ? previous : undefined) ?? block.match(RESULTS_FILE)?.[0];
    const first = file;
    for (const clause of block.split(/(?<=[;.:])\s|\n\|/)) {
      file = [...clause.matchAll(RESULTS_FILE)].at(-1)?.[0] ?? file;
      if (!file || OTHER_SOURCE.test(clause)) continue;
      for (const figure of figures(clause)) cited.push({ figure, file, clause });
    }
    previous = first;
  }
  return cited;
}

// Found in a review: the README's integrity section gave a sender's copy and digest rates "in the same
// run" as results.md (20.7 / 10.4 / 20.1 GB/s, 1.86×) that no results file kept showed (41.2 / 23.9 /
// 38.7 GB/s, 1.62× there): they were an earlier run's, whose file had been replaced.
test("every figure the README gives from a benchmark run is in the results file it cites", () => {
  const cited = citedFigures(README);
  // The headline, the benchmark table and the integrity section cite docs/bench/results.md at least.
  expect(cited.filter(({ file }) => file === "docs/bench/results.md").length).toBeGreaterThan(60);
  const missing = cited
    .filter(({ figure, file }) => !foundIn(file, figure))
    .map(({ figure, file, clause }) => `${figure.text} (not in ${file}): ${clause.replace(/\s+/g, " ")}`);
  expect(missing).toEqual([]);
});

test("the figure check finds a figure its file does not show, and takes one it shows as rounded", () => {
  const cited = citedFigures(
    "A run ([docs/bench/results.md](docs/bench/results.md)): memcpy 11.99 GB/s, end to end 0.428 s.\n\n" +
      "In the same run: 20.7 GB/s / 41.15 GB/s.",
  );
  expect(cited.map(({ figure, file }) => `${figure.text} ${foundIn(file, figure)}`)).toEqual([
    "11.99 GB/s true",
    "0.428 s true",
    "20.7 GB/s false",
    "41.15 GB/s true",
  ]);
});

// Command lines --------------------------------------------------------------------------------------

async function resolved<T>(value: T | Promise<T> | (() => T | Promise<T>)): Promise<T> {
  return typeof value === "function" ? await (value as () => T | Promise<T>)() : await value;
}

/**
 * The `ivsh ...` command lines of the README's shell blocks and inline code, cut at shell syntax: a line
 * continued with a backslash is one line, and a quoted word (`"$f"`) is one word, WORD (a quote left
 * unpaired closes the string the command was in: `--run 'ivsh guest send FILE'`).
 */
function commandLines(markdown: string): string[] {
  const lines: string[] = [];
  const shell = [...markdown.matchAll(/^ *```(?:sh|bash)\n([\s\S]*?)^ *```$/gm)].flatMap(([, body]) =>
    body!.replace(/\s*\\\n\s*/g, " ").split("\n"),
  );
  const inline = [...markdown.matchAll(/`([^`\n]+)`/g)].map(([, span]) => span!);
  // Where a shell runs a command: a line's start, after an operator or a word that runs the next one.
  const ivsh =
    /(?:^|[|;&('"]\s*|\b(?:until|while|if|then|do|exec|sudo|!)\s+)(?:node_modules\/\.bin\/|\S*dist\/)?ivsh((?: .*)?)$/;
  for (const line of [...shell, ...inline]) {
    const words = line.match(ivsh)?.[1]?.replace(/(?<=\s)(["'])[^"']*\1(?=\s|$)/g, "WORD");
    if (words === undefined) continue;
    lines.push(`ivsh${words.split(/\s\d*[<>]|[|;&#`)'"]/)[0]!.trimEnd()}`);
  }
  return [...new Set(lines)];
}

/**
 * Why the CLI would refuse `line`, or undefined if it takes it: the command (`ivsh help ...` aside)
 * exists, its flags pass the CLI's own check of the words (src/commands/_strict.ts), and it is given no
 * more arguments than it takes. A line that stops at a command with subcommands (`ivsh guest`) names it.
 */
async function refusal(line: string): Promise<string | undefined> {
  const words = line.split(/\s+/).slice(1);
  if (words[0] === "help") return undefined;
  let command: CommandDef = main;
  while (words.length > 0) {
    const children = (await resolved(command.subCommands)) as Record<string, unknown> | undefined;
    if (!children || !(words[0]! in children)) break;
    command = (await resolved(children[words.shift()!])) as CommandDef;
  }
  const rest = words[0];
  if ((await resolved(command.subCommands)) && rest !== undefined && !rest.startsWith("-"))
    return `no command '${rest}'`;
  if (!command.args) return undefined;
  try {
    await checkWords(command, words);
  } catch (error) {
    return (error as Error).message;
  }
  const args = (await resolved(command.args)) as ArgsDef;
  const valued = new Set(
    Object.entries(args)
      .filter(([, def]) => def.type === "string")
      .flatMap(([name, def]) => [name, ...("alias" in def && def.alias ? [def.alias].flat() : [])]),
  );
  let positionals = 0;
  for (let index = 0; index < words.length; index++) {
    const word = words[index]!;
    if (word.startsWith("-") && word !== "-") {
      if (valued.has(word.replace(/^--?/, "")) && !word.includes("=")) index++;
    } else positionals++;
  }
  const takes = Object.values(args).filter((def) => def.type === "positional").length;
  return positionals > takes ? `${positionals} arguments, where it takes ${takes}` : undefined;
}

test("every `ivsh ...` command line the README shows names a command, flags and arguments the CLI takes", async () => {
  const lines = commandLines(README);
  expect(lines).toContain(
    "ivsh host --region /dev/shm/ivsh --size 256MiB --block-size 64KiB --socket /tmp/ivsh.sock",
  );
  expect(lines).toContain("ivsh guest recv --out os-release --timeout 5m");
  expect(lines.length).toBeGreaterThan(25);
  const refused: string[] = [];
  for (const line of lines) {
    const why = await refusal(line);
    if (why !== undefined) refused.push(`${line}: ${why}`);
  }
  expect(refused).toEqual([]);
});

test("the command-line check refuses a flag, a command or an argument too many", async () => {
  expect(await refusal("ivsh guest send --chunksize 1MiB big.iso")).toContain("--chunksize");
  expect(await refusal("ivsh guest push big.iso")).toBe("no command 'push'");
  expect(await refusal("ivsh guest send a.iso b.iso")).toBe("2 arguments, where it takes 1");
  expect(await refusal("ivsh guest send --channel logs big.iso")).toBeUndefined();
});

// Found in review: a command wrapped with `\` onto a second line was taken as an argument `\`, and a quoted
// word (`--out "$f"`) cut the line at its quote, leaving a flag without its value: both refused a line the
// shell runs as written.
test("the command-line check reads a line continued with a backslash and a quoted word as a shell does", async () => {
  const lines = commandLines(
    "```sh\nivsh host --region /dev/shm/ivsh \\\n  --size 256MiB &\n```\n\n" +
      "`ivsh guest recv --out \"$f\" | tar x`, `launch.sh --run 'ivsh guest send /etc/os-release' --name 'web'`",
  );
  expect(lines).toEqual([
    "ivsh host --region /dev/shm/ivsh --size 256MiB",
    "ivsh guest recv --out WORD",
    "ivsh guest send /etc/os-release",
  ]);
  for (const line of lines) expect(await refusal(line)).toBeUndefined();
});

// Found by a package trial: the library section's wait for `node_modules/.bin/ivsh host &` had no way
// out, so an arbiter that could not start (its state journal another arbiter's, no Bun) left the recipe
// waiting for ever, where the VM section's wait ends on `kill -0 $!`.
test("every loop that waits for a background arbiter to answer ends if the arbiter exits instead", () => {
  const waits = README.split("\n").filter((line) => /^\s*until\b.*\bivsh status\b/.test(line));
  expect(waits.length).toBeGreaterThanOrEqual(2);
  expect(waits.filter((line) => !line.includes("kill -0 $! 2>/dev/null || break"))).toEqual([]);
});
