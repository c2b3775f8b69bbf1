/**
 * `shellWord`, the quoting of a path in a command a message tells the user to run: the word a shell hands
 * the program must be the one printed, in bash and in zsh, where a leading `=` is expanded (EQUALS:
 * `=ls` becomes /usr/bin/ls) when left bare.
 */
import { expect, test } from "bun:test";
import { shellWord } from "../src/units.ts";
import { testWithTool } from "./helpers/tools.ts";

const WORDS = [
  "=ls",
  "=",
  "==x",
  "=(true)",
  "a=b",
  "/tmp/ivsh.sock",
  "--socket=/x",
  "it's here",
  "~/x",
  "$HOME",
  "a b",
  "",
  "@vm:1,2%+",
];

/** Each word as `shell` hands it to printf when given as shellWord prints it, one per line. */
function asRead(shell: string, words: string[]): string[] {
  const line = `printf '%s\\n' ${words.map(shellWord).join(" ")}`;
  const run = Bun.spawnSync([shell, "-c", line], { stderr: "pipe" });
  expect(run.stderr.toString()).toBe("");
  return run.stdout.toString().split("\n").slice(0, -1);
}

for (const shell of ["zsh", "bash"])
  testWithTool(
    shell,
    `${shell} reads each word shellWord prints as the word itself (a leading = too)`,
    () => {
      // Before: zsh said "/usr/bin/ls" for =ls, and "zsh: = not found" for =x's kin.
      expect(asRead(shell, WORDS)).toEqual(WORDS);
    },
  );

test("a word that needs no quotes is left bare, = inside it too", () => {
  expect(shellWord("a=b")).toBe("a=b");
  expect(shellWord("/tmp/ivsh.sock")).toBe("/tmp/ivsh.sock");
  expect(shellWord("=ls")).toBe("'=ls'");
});
