/**
 * A command word that names a property every JavaScript object has (constructor, toString, __proto__):
 * citty looks a command up with `in`, so `ivsh constructor` ran Object() as a command and exited 0 without
 * a word, `ivsh hasOwnProperty` crashed with a TypeError and a stack (exit 1), and `ivsh help constructor`
 * printed the usage of a command named "undefined". Each must be what any other unknown word is.
 */
import { describe, expect, test } from "bun:test";
import { runCli } from "./helpers/processes.ts";

/** A word no command has: what ivsh says for it is what it must say for each word below. */
const UNKNOWN = "nosuchcommand";

describe("a word naming an Object property is an unknown command, like any other", () => {
  const lines: [string[], string][] = [
    [["constructor"], "constructor"],
    [["hasOwnProperty", "x"], "hasOwnProperty"],
    [["guest", "toString"], "toString"],
    [["guest", "__proto__"], "__proto__"],
    [["guest", "valueOf", "x"], "valueOf"],
    [["help", "constructor"], "constructor"],
    [["help", "guest", "toString"], "toString"],
    [["constructor", "--help"], "constructor"],
    // A command's name after the word: it was found (and run as citty would not) past the word citty took.
    [["constructor", "host"], "constructor"],
    [["hasOwnProperty", "status"], "hasOwnProperty"],
    [["guest", "toString", "send"], "toString"],
  ];
  for (const [words, word] of lines)
    test(words.join(" "), async () => {
      const unknown = words.map((each) => (each === word ? UNKNOWN : each));
      const [result, expected] = await Promise.all([runCli(words), runCli(unknown)]);
      expect({
        exitCode: result.exitCode,
        stdout: result.stdout,
        stderr: result.stderr.replaceAll(word, UNKNOWN),
      }).toEqual({ exitCode: expected.exitCode, stdout: expected.stdout, stderr: expected.stderr });
    }, 60_000);
});
