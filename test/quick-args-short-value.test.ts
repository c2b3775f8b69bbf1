/**
 * A short flag that takes a value, written `-c=VALUE`: citty reads it as the value "=VALUE", which nobody
 * means, so the quick parse (src/commands/_quick-args.ts) leaves it to citty rather than answer "VALUE".
 * `guest send` / `recv` have no such flag today; a command given one (or an alias added) must not diverge.
 */
import { expect, test } from "bun:test";
import { type ArgsDef, parseArgs } from "citty";
import { quickArgs } from "../src/commands/_quick-args.ts";

const def: ArgsDef = {
  channel: { type: "string", alias: "c" },
  file: { type: "positional" },
};

test("-c=VALUE of a short value flag is not a plain shape: citty reads it as '=VALUE'", () => {
  expect({ ...parseArgs(["-c=x", "f"], def) }).toMatchObject({ channel: "=x" });
  expect(quickArgs(def, ["-c=x", "f"])).toBeUndefined();
});

test("-c VALUE and --channel=VALUE are plain, and parse as citty parses them", () => {
  for (const words of [
    ["-c", "x", "f"],
    ["--channel=x", "f"],
  ]) {
    const quick = quickArgs(def, words);
    expect(quick).toMatchObject({ channel: "x", c: "x", file: "f", _: ["f"] });
    expect({ ...parseArgs(words, def) }).toMatchObject({ channel: "x", c: "x", file: "f" });
  }
});
