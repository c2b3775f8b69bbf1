/**
 * Edges of the word checks (src/commands/_strict.ts) that test/cli-strict-words.test.ts leaves open
 * (mutation round 18), called directly: a switch's `=true`, a value that is a flag's name, words after
 * `--`, the advice for a name that is not UTF-8, and the names a camelCase declaration goes by.
 */
import { expect, test } from "bun:test";
import type { CommandDef } from "citty";
import { checkWords, defineLeafCommand } from "../src/commands/_strict.ts";
import recv from "../src/commands/guest-recv.ts";
import send from "../src/commands/guest-send.ts";

const guestSend = send as CommandDef;
const guestRecv = recv as CommandDef;

test("a switch given =true or =false is taken as written; any other value is refused", async () => {
  for (const flag of ["--json=true", "--json=false", "-q=true", "--progress=false"])
    await expect(checkWords(guestSend, ["f", flag])).resolves.toBeUndefined();
  await expect(checkWords(guestSend, ["f", "--json=yes"])).rejects.toThrow("--json is a switch");
});

test("a value flag's value that reads as another value flag (--region -channel) is its value, not a flag", async () => {
  await expect(checkWords(guestSend, ["f", "--region", "-channel"])).resolves.toBeUndefined();
  await expect(checkWords(guestSend, ["f", "--region", "-channel", "--json"])).resolves.toBeUndefined();
});

test("after --, a word that starts with a dash is FILE, and named so when it is not UTF-8", async () => {
  await expect(checkWords(guestSend, ["--", "-f\uFFFD"])).rejects.toThrow(
    "Failed to use FILE '-f\uFFFD' since it is not valid UTF-8",
  );
});

test("recv --out with a name that is not UTF-8 is told it may receive to stdout", async () => {
  await expect(checkWords(guestRecv, ["--out", "o\uFFFD"])).rejects.toThrow(
    "use a UTF-8 name and rename it afterwards, or receive to stdout (--out - > FILE)",
  );
});

test("a flag declared in camelCase goes by its kebab-case name too", async () => {
  const command = defineLeafCommand({
    meta: { name: "probe" },
    args: { blockSize: { type: "string" }, dryRun: { type: "boolean" } },
    run() {},
  }) as CommandDef;
  for (const words of [["--block-size", "4"], ["--blockSize=4"], ["--dry-run"], ["--no-dry-run"]])
    await expect(checkWords(command, words)).resolves.toBeUndefined();
  await expect(checkWords(command, ["--block-size"])).rejects.toThrow("--block-size needs a value");
});

test("after --, a word like a flag (--json, --nope) is an argument: no flag check judges it", async () => {
  for (const word of ["--json", "--nope", "-x", "-5"])
    await expect(checkWords(guestSend, ["--", word])).resolves.toBeUndefined();
});

test("a word beyond the command's positionals that is not UTF-8 is named by its place: argument 2", async () => {
  await expect(checkWords(guestSend, ["f", "g\uFFFD"])).rejects.toThrow(
    "Failed to use argument 2 'g\uFFFD' since it is not valid UTF-8",
  );
});
