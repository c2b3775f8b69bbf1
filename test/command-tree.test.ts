/**
 * The command tree that completion and the man page are made from (src/commands/_tree.ts), on a command of
 * the test's own: a value hint is a set of choices only when it lists two or more lower-case words, and a
 * positional argument is required unless it says otherwise. The CLI's own commands happen to take neither
 * edge today, so a change there would show only in a command added later.
 */
import { expect, test } from "bun:test";
import type { CommandDef } from "citty";
import { commandTree } from "../src/commands/_tree.ts";

const command: CommandDef = {
  meta: { name: "tree-edges", description: "A command of the test's own" },
  args: {
    mode: { type: "string", description: "One word, no list", valueHint: "fast" },
    out: { type: "string", description: "Placeholders, not choices", valueHint: "FILE|DIR" },
    level: { type: "string", description: "Choices", valueHint: "low|high" },
    file: { type: "positional", description: "Required by default" },
    extra: { type: "positional", description: "Optional", required: false },
  },
};

test("a value hint of one word, or of placeholders, offers no choices; a list of words does", async () => {
  const { flags } = await commandTree(command);
  const choices = Object.fromEntries(flags.map((flag) => [flag.name, flag.choices]));
  expect(choices).toEqual({ mode: undefined, out: undefined, level: ["low", "high"] });
});

test("a positional argument is required unless it says required: false", async () => {
  const { positionals } = await commandTree(command);
  expect(positionals.map(({ name, required }) => [name, required])).toEqual([
    ["FILE", true],
    ["EXTRA", false],
  ]);
});
