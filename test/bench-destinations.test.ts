/**
 * `ivsh bench`'s check of where it writes (src/commands/_bench-destinations.ts), run before it measures:
 * a --json or --out it passes and that cannot be written fails only after the whole run, its figures lost.
 * Called directly: through the CLI, a path the check wrongly passed would start minutes of measuring.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { checkDestinations } from "../src/commands/_bench-destinations.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-bench-destinations-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the check says of `args`: its message, or "passed". */
function said(args: Parameters<typeof checkDestinations>[0]): string {
  try {
    checkDestinations(args);
    return "passed";
  } catch (error) {
    return (error as Error).message;
  }
}

// Written through (output.ts's writeWhole), a --json that is a link to nothing is opened where it points:
// into /etc/passwd/ that fails (ENOTDIR), after the run. Its directory exists, but is a file.
test("--json, a link to a path through a file, is refused before the run", () => {
  const json = join(dir, "through-file.json");
  symlinkSync("/etc/passwd/results.json", json);
  expect(said({ json })).toBe(
    `Failed to write --json ${json} since /etc/passwd is not a directory this user may write`,
  );
});

// A name longer than the file system's 255 bytes cannot be made: the check walked up to the existing
// directory above it and passed, and mkdir (--out) or the write (--json) failed with ENAMETOOLONG after the run.
test("--out and --json named longer than the file system allows are refused before the run", () => {
  const long = join(dir, "n".repeat(300));
  for (const [flag, args] of [
    ["--out", { out: long }],
    ["--out", { out: join(long, "figures") }],
    ["--json", { json: `${long}.json` }],
  ] as const)
    expect(said(args)).toStartWith(
      `Failed to write ${flag} ${Object.values(args)[0]} since a name on its path is longer than the file system allows (ENAMETOOLONG)`,
    );
});
