/**
 * The arbiter makes files beside its region (REGION.wake) and its state (STATE.compact-PID, STATE.tmp-PID).
 * A name of its own that fits the file system's 255 bytes may leave no room for theirs: a 252-byte region
 * name was refused "Failed to stat REGION.wake since name too long (ENAMETOOLONG)" (saying nothing of what
 * to do), and a 242-byte state name served until its first compaction failed (its copy named with the pid). Both are refused at the start,
 * naming the file that would not fit and the longest name that does, before anything is made.
 */
import { afterAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, runCli } from "./helpers/processes.ts";

const dir = mkdtempSync("/dev/shm/ivsh-long-names-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a region name that leaves no room for its wake-up file's is refused at the start, saying the longest that fits", async () => {
  const region = join(dir, "r".repeat(252));
  const state = join(dir, "state");
  const result = await runCli([
    "host",
    "--region",
    region,
    "--socket",
    join(dir, "a.sock"),
    "--state",
    state,
    "--size",
    "1MiB",
  ]);
  expect({ code: result.exitCode, stderr: result.stderr.trim() }).toEqual({
    code: 1,
    stderr: `[ivsh] ERROR Failed to use --region ${region} since its file name is 252 bytes, and the wake-up file the arbiter makes beside it (${"r".repeat(252)}.wake) would be 257: a file name has at most 255 bytes; choose a --region name of at most 250 bytes`,
  });
  expect({ region: existsSync(region), state: existsSync(state) }).toEqual({ region: false, state: false });
}, 30_000);

test("a state name that leaves no room for its compaction's copy is refused at the start", async () => {
  const region = join(dir, "region");
  const state = join(dir, "s".repeat(242));
  const result = await runCli([
    "host",
    "--region",
    region,
    "--socket",
    join(dir, "b.sock"),
    "--state",
    state,
    "--size",
    "1MiB",
  ]);
  expect({ code: result.exitCode, stderr: result.stderr.trim() }).toEqual({
    code: 1,
    stderr: `[ivsh] ERROR Failed to use --state ${state} since its file name is 242 bytes, and the copy the arbiter writes beside it as it compacts (${"s".repeat(242)}.compact-PID) would be up to 258: a file name has at most 255 bytes; choose a --state name of at most 239 bytes`,
  });
  expect({ region: existsSync(region), state: existsSync(state) }).toEqual({ region: false, state: false });
}, 30_000);

test("a region given through a link is measured by the file it resolves to, whose name the wake-up file takes", async () => {
  const target = join(dir, "t".repeat(252));
  writeFileSync(target, new Uint8Array(1 << 20));
  const link = join(dir, "ln");
  symlinkSync(target, link);
  const state = join(dir, "c-state");
  const result = await runCli([
    "host",
    "--region",
    link,
    "--socket",
    join(dir, "c.sock"),
    "--state",
    state,
    "--size",
    "1MiB",
  ]);
  expect({ code: result.exitCode, stderr: result.stderr.trim() }).toEqual({
    code: 1,
    stderr: `[ivsh] ERROR Failed to use --region ${link} since the file it resolves to, ${target}, has a name of 252 bytes, and the wake-up file the arbiter makes beside it (${"t".repeat(252)}.wake) would be 257: a file name has at most 255 bytes; choose a name for it of at most 250 bytes`,
  });
  expect(existsSync(state)).toBe(false);
}, 30_000);

// Mutation round 31: the longest names the refusals advise are served (the wake-up file's name then 255
// bytes; the compaction's copy's up to 255 with a 7-digit pid). Nothing checked the advice was true.
test("a region and a state named at the longest the refusals advise are served", async () => {
  const made = testPaths("long-names-fit");
  const paths = { ...made, region: join(made.dir, "r".repeat(250)), state: join(made.dir, "s".repeat(239)) };
  const arbiter = await ArbiterProcess.start(paths);
  try {
    expect(existsSync(`${paths.region}.wake`)).toBe(true);
  } finally {
    await arbiter.stop();
    made.cleanup();
  }
}, 30_000);

// Mutation round 31: a name's length is its bytes (NAME_MAX counts bytes), not its characters: counted in
// characters, this name (131 with .wake) passed, and the start failed at the wake-up file's ENAMETOOLONG.
test("a region name of 126 two-byte characters is measured in bytes", async () => {
  const name = "é".repeat(126); // 252 bytes
  const region = join(dir, name);
  const result = await runCli([
    "host",
    "--region",
    region,
    "--socket",
    join(dir, "d.sock"),
    "--state",
    join(dir, "d-state"),
    "--size",
    "1MiB",
  ]);
  expect({ code: result.exitCode, stderr: result.stderr.trim() }).toEqual({
    code: 1,
    stderr: `[ivsh] ERROR Failed to use --region ${region} since its file name is 252 bytes, and the wake-up file the arbiter makes beside it (${name}.wake) would be 257: a file name has at most 255 bytes; choose a --region name of at most 250 bytes`,
  });
  expect(existsSync(join(dir, name))).toBe(false);
}, 30_000);
