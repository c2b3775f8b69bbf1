/**
 * `guest send` / `recv` parse their plain command lines without citty (src/commands/_quick-args.ts): wherever
 * that parse answers, it must give what citty's parse gives, and the words must be ones ivsh's own checks
 * (src/commands/_strict.ts) accept; everything else goes through citty as before.
 */
import { describe, expect, test } from "bun:test";
import { type ArgsDef, type CommandDef, parseArgs } from "citty";
import { quickArgs } from "../src/commands/_quick-args.ts";
import { checkWords } from "../src/commands/_strict.ts";
import { guestCommands } from "../src/commands/guest.ts";
import { runCli } from "./helpers/processes.ts";

const commands = guestCommands as unknown as Record<string, CommandDef>;
const argsOf = (name: string) => commands[name]!.args as ArgsDef;

function sorted(args: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(args).sort(([a], [b]) => a.localeCompare(b)));
}

/** citty's parse as a plain object, keys sorted: what a command's run reads. */
const cittyArgs = (def: ArgsDef, words: string[]) => sorted({ ...parseArgs(words, def) });

/** Passes citty's and ivsh's checks as runCommand would run them: the words, then no extra argument. */
async function acceptedByCitty(name: string, words: string[]): Promise<boolean> {
  try {
    await checkWords(commands[name]!, words);
    const def = argsOf(name);
    const parsed = parseArgs(words, def);
    const positionals = Object.values(def).filter((arg) => arg.type === "positional").length;
    return parsed._.length <= positionals;
  } catch {
    return false;
  }
}

describe("the plain shapes take the quick path, with citty's result", () => {
  const plain: [string, string[]][] = [
    ["send", ["FILE"]],
    ["send", ["-"]],
    ["send", ["FILE", "--channel", "c", "-q"]],
    ["send", ["--channel=c", "FILE", "--json", "--timeout", "5s", "--socket", "/s", "--region", "/r"]],
    ["send", ["FILE", "--chunk-size", "64KiB", "--depth", "4", "--progress", "--sysfs-root", "/x"]],
    ["send", ["FILE", "--block-size=1MiB", "--connect", "10.0.2.100:7777", "--quiet"]],
    ["send", ["FILE", "--channel=-x"]],
    ["recv", []],
    ["recv", ["--out", "-"]],
    ["recv", ["--out", "FILE2", "--force", "--channel", "c"]],
    ["recv", ["--out=a=b", "-q", "--json", "--progress"]],
  ];
  for (const [name, words] of plain)
    test(`${name} ${words.join(" ")}`, async () => {
      const quick = quickArgs(argsOf(name), words);
      expect(quick).toBeDefined();
      expect(sorted(quick!)).toEqual(cittyArgs(argsOf(name), words));
      expect(await acceptedByCitty(name, words)).toBe(true);
    });
});

describe("anything else is left to citty", () => {
  const other: [string, string[]][] = [
    ["send", []],
    ["send", ["A", "B"]],
    ["send", ["FILE", "--"]],
    ["send", ["--", "-h"]],
    ["send", ["FILE", "--help"]],
    ["send", ["FILE", "-h"]],
    ["send", ["FILE", "--no-json"]],
    ["send", ["FILE", "--json=false"]],
    ["send", ["FILE", "--json=no"]],
    ["send", ["FILE", "-q=1"]],
    ["send", ["FILE", "--chanel", "c"]],
    ["send", ["FILE", "--channel"]],
    ["send", ["FILE", "--channel", "--json"]],
    ["send", ["FILE", "--channel", "-q"]],
    ["send", ["FILE", "--channel="]],
    ["send", ["FILE", "--channel", "a", "--channel", "b"]],
    ["send", ["FILE", "-q", "--quiet"]],
    ["send", ["FILE", "--chunkSize", "1MiB"]],
    ["send", ["FILE", "-5"]],
    ["send", ["FILE", "--depth", "-5"]],
    ["send", ["c\uFFFD"]],
    ["send", [""]],
    ["send", ["FILE", "-qj"]],
    ["recv", ["FILE"]],
    ["recv", ["-"]],
    ["recv", ["--out"]],
    ["recv", ["--force=no"]],
    ["recv", ["--out", "x\uFFFD"]],
  ];
  for (const [name, words] of other)
    test(`${name} ${words.join(" ")}`, () => {
      expect(quickArgs(argsOf(name), words)).toBeUndefined();
    });
});

/** Words from a pool of the shapes users and tests type, good and bad, in random order. */
const POOL = [
  ...["FILE", "-", "--", "", "x\uFFFD", "-5", "-h", "--help", "-q", "-qj", "-q=1", "--quiet", "--json"],
  ...["--json=true", "--json=false", "--no-json", "--progress", "--force", "--force=no", "--channel"],
  ...["--channel=c", "--channel=", "c", "--out", "--out=o", "o", "--timeout", "5s", "--depth", "--depth=3"],
  ...["3", "--chunk-size", "64KiB", "--block-size=1MiB", "--socket", "/s", "--region=/r", "--connect"],
  ...["--sysfs-root", "--sysfs-root=/x", "--sysfsRoot", "--chunkSize=1", "--unknown", "-x"],
];

test("wherever the quick parse answers, citty accepts the words and parses them alike", async () => {
  let random = 12345;
  const next = (below: number) => {
    random = (random * 1103515245 + 12345) % 2 ** 31;
    return random % below;
  };
  let quick = 0;
  for (let round = 0; round < 20000; round++) {
    const name = round % 2 ? "send" : "recv";
    const words = Array.from({ length: next(6) }, () => POOL[next(POOL.length)]!);
    const parsed = quickArgs(argsOf(name), words);
    if (parsed === undefined) continue;
    quick++;
    const line = `${name} ${words.join(" ")}`;
    expect({ line, accepted: await acceptedByCitty(name, words) }).toEqual({ line, accepted: true });
    expect({ line, args: sorted(parsed) }).toEqual({ line, args: cittyArgs(argsOf(name), words) });
  }
  expect(quick).toBeGreaterThan(500);
});

test("a plain send that fails says so as before (exit 1, the file named)", async () => {
  const result = await runCli(["guest", "send", "/nonexistent/ivsh-quick", "--timeout", "1s"]);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain("/nonexistent/ivsh-quick");
});
