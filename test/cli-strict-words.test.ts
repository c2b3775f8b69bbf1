/**
 * The word checks a leaf command runs before citty parses its words (src/commands/_strict.ts), called
 * directly: which words are a flag's value, which flags exist, which argument a bad word is.
 */
import { expect, test } from "bun:test";
import type { CommandDef } from "citty";
import { checkWords } from "../src/commands/_strict.ts";
import send from "../src/commands/guest-send.ts";
import { CLI } from "./helpers/paths.ts";
import { runCli } from "./helpers/processes.ts";

const guestSend = send as CommandDef;

test("a value flag's value that looks like a switch with a value (--channel -q=1) is the channel's name, not -q given =1", async () => {
  await expect(checkWords(guestSend, ["f", "--channel", "-q=1"])).resolves.toBeUndefined();
  // The switch itself, given a value, is still refused.
  await expect(checkWords(guestSend, ["f", "-q=1"])).rejects.toThrow("-q is a switch");
});

test("a switch's negation (--no-progress, --no-json) is a known flag, not an unknown option", async () => {
  for (const flag of ["--no-progress", "--no-json", "--no-quiet"])
    await expect(checkWords(guestSend, ["f", flag])).resolves.toBeUndefined();
  await expect(checkWords(guestSend, ["f", "--no-channel"])).rejects.toThrow("Unknown option --no-channel");
});

test("a flag's value is not counted as a positional: a bad FILE after --channel NAME is named FILE", async () => {
  await expect(checkWords(guestSend, ["--channel", "c", "f\uFFFD"])).rejects.toThrow(
    "Failed to use FILE 'f\uFFFD' since it is not valid UTF-8",
  );
});

test("a non-UTF-8 value of a DIR flag (--sysfs-root) is told to use a UTF-8 path", async () => {
  await expect(checkWords(guestSend, ["f", "--sysfs-root", "/s\uFFFD"])).rejects.toThrow(
    "rename it, or use a UTF-8 path",
  );
});

test("an argument beyond the command's positionals (guest send a b) is a usage error naming it", async () => {
  const result = await runCli(["guest", "send", CLI, "extra", "--socket", "/nonexistent/ivsh.sock"]);
  expect(result.exitCode).toBe(2);
  expect(result.stderr).toContain("Unexpected argument 'extra'");
});
