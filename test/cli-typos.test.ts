/**
 * A typo of a command or an option (`ivsh stauts`, `ivsh guest sned`, `--jsn`): ivsh said only "Unknown
 * command 'stauts'" or "Unknown option --jsn", and the user had to find the spelling in --help. The
 * usage error names the command or option meant when one is that close, and only then.
 */
import { describe, expect, test } from "bun:test";
import { closestWord } from "../src/commands/_suggest.ts";
import { runCli } from "./helpers/processes.ts";

describe("closestWord", () => {
  const commands = ["host", "status", "guest", "bridge", "bench", "example", "demo", "completion"];
  test("a swap, a letter missing, added or wrong, two in a longer word, or the start of one", () => {
    for (const [typo, meant] of [
      ["hots", "host"],
      ["stauts", "status"],
      ["statu", "status"],
      ["gust", "guest"],
      ["bech", "bench"],
      ["exmaple", "example"],
      ["compleiton", "completion"],
      ["comp", "completion"],
    ])
      expect(closestWord(typo!, commands)).toBe(meant);
  });
  test("nothing for a word far from all, or as close to two", () => {
    for (const word of ["nosuchcommand", "constructor", "x", "b", "xyz"])
      expect(closestWord(word, commands)).toBeUndefined();
    expect(closestWord("sed", ["send", "seed"])).toBeUndefined();
    // One edit past the allowance is too far (it was taken when no other candidate was as close).
    expect(closestWord("hxyt", ["host"])).toBeUndefined();
    expect(closestWord("stxyzs", ["status"])).toBeUndefined();
  });
  test("a long word is allowed three edits: receive is recv", () => {
    expect(closestWord("receive", ["send", "recv"])).toBe("recv");
  });
});

describe("a typo is a usage error naming what was meant", () => {
  const lines: [string[], string, string][] = [
    [["stauts"], "Unknown command 'stauts': did you mean 'ivsh status'?", "ivsh"],
    [["hots", "--size", "1MiB"], "Unknown command 'hots': did you mean 'ivsh host'?", "ivsh"],
    [["guest", "sned", "f"], "Unknown command 'sned': did you mean 'ivsh guest send'?", "ivsh guest"],
    [
      ["example", "fig1-witer"],
      "Unknown command 'fig1-witer': did you mean 'ivsh example fig1-writer'?",
      "ivsh example",
    ],
    [["status", "--jsn"], "Unknown option --jsn: did you mean --json?", "ivsh status"],
    [
      ["guest", "send", "--chunksize", "1MiB", "f"],
      "Unknown option --chunksize: did you mean --chunk-size?",
      "ivsh guest send",
    ],
  ];
  for (const [words, said, group] of lines)
    test(words.join(" "), async () => {
      const result = await runCli(words);
      expect(result.exitCode).toBe(2);
      const seeing = said.startsWith("Unknown command") ? "commands" : "options";
      expect(result.stderr.trim().split("\n")).toEqual([
        `[ivsh] ERROR ${said}`,
        `Run '${group} --help' to see the ${seeing}.`,
      ]);
    }, 60_000);

  test("`ivsh help stauts` names it too", async () => {
    const result = await runCli(["help", "stauts"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("There is no command 'ivsh stauts': did you mean 'ivsh status'?");
  }, 60_000);

  test("a word close to no command, and a hidden command, are not offered", async () => {
    const far = await runCli(["nosuchcommand"]);
    expect(far.stderr).toContain("Unknown command 'nosuchcommand'\n");
    // bench-worker is hidden: not offered for a typo of it.
    const hidden = await runCli(["bench-wroker"]);
    expect(hidden.stderr).toContain("Unknown command 'bench-wroker'\n");
  }, 60_000);
});

// Found by a review: an option other commands take, spelled right, was taken for a typo of one of this
// command's (`ivsh bench --quiet`: "did you mean --quick?", a shorter benchmark, not a quieter one).
describe("an option of other commands is said to be theirs, not offered as a typo", () => {
  const lines: [string[], string, string][] = [
    [
      ["bench", "--quiet"],
      "Unknown option --quiet (an option of 'ivsh host', 'ivsh guest send', 'ivsh guest recv')",
      "ivsh bench",
    ],
    [["host", "--scale", "2"], "Unknown option --scale (an option of 'ivsh bench')", "ivsh host"],
    [["guest", "recv", "--quick"], "Unknown option --quick (an option of 'ivsh bench')", "ivsh guest recv"],
  ];
  for (const [words, said, command] of lines)
    test(words.join(" "), async () => {
      const result = await runCli(words);
      expect(result.exitCode).toBe(2);
      expect(result.stderr.trim().split("\n")).toEqual([
        `[ivsh] ERROR ${said}`,
        `Run '${command} --help' to see the options.`,
      ]);
    }, 60_000);
});

describe("a typo of a listed value names the one meant", () => {
  test("ivsh completion bahs", async () => {
    const result = await runCli(["completion", "bahs"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain("'bahs' since it is not one of bash, zsh, fish: did you mean bash?");
  }, 60_000);

  test("ivsh host --log-level warning", async () => {
    const result = await runCli(["host", "--log-level", "warning", "--socket", "/nonexistent-ivsh/a.sock"]);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toContain(
      "--log-level warning since it is not one of error, warn, info, debug: did you mean warn?",
    );
  }, 60_000);
});
