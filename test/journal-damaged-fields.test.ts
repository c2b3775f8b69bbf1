/**
 * A state journal whose records are whole JSON of known types, but with a field hand-edited to a value no
 * arbiter writes (found by a trial). Each was resumed: a condvar's kind 'spoon' served, then printed a
 * TypeError stack at every sweep; a 'begin' epoch of "x" restarted the region in epoch 1, behind the one
 * its clients had; a grant's mode 'bogus' and a session's clientId null were taken as they were; a
 * geometry's blockSize "65536" was refused as "--block-size 64KiB, but the flags ask for --block-size
 * 64KiB"; a slot past the region's last was taken, the refusal naming the next line; a change header's count of
 * "x" dropped every record after it as a half-written change. A start now refuses
 * each in one line naming the line, the field and what to do.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
import { asParentOfArbiter } from "../src/host/parent.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EXIT_BOUND_MS, exitOrKill, readUntil } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";

let paths: TestPaths;
let journal: string;

beforeAll(async () => {
  paths = testPaths("journal-damaged-fields");
  // A journal of an arbiter killed while its client held a segment and a mutex.
  const host = await ArbiterProcess.start(paths, { size: "16MiB" });
  const client = await connect({ socket: paths.socket, region: paths.region, name: "fields" });
  await client.alloc(4096, { name: "kept" });
  await (await client.mutex("held")).lock();
  await host.kill9();
  await client.close().catch(() => undefined);
  journal = readFileSync(paths.state, "utf8");
}, 60_000);
afterAll(() => paths?.cleanup());

/** The journal with the first record of type `type` changed by `edit`, and that record's line. */
function damaged(
  type: string,
  edit: (record: Record<string, unknown>) => void,
): { line: number; text: string } {
  const lines = journal.split("\n");
  const index = lines.findIndex((line) => line.startsWith(`{"t":"${type}"`));
  if (index < 0) throw new Error(`no '${type}' record in:\n${journal}`);
  const record = JSON.parse(lines[index]!) as Record<string, unknown>;
  edit(record);
  lines[index] = JSON.stringify(record);
  writeFileSync(paths.state, lines.join("\n"));
  return { line: index + 1, text: lines.join("\n") };
}

/** What `ivsh host` on the journal says: "exit N: ..." if it stops, "served: ..." if it serves (then stopped). */
async function start(): Promise<string> {
  const host = tracked(
    Bun.spawn(
      [
        ...[process.execPath, CLI, "host", "--exit-with-parent", "--region", paths.region],
        ...["--socket", paths.socket, "--state", paths.state],
      ],
      { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", ...asParentOfArbiter() } },
    ),
  );
  const said = await readUntil(host.stderr, "arbiter serving");
  if (said.includes("arbiter serving")) {
    host.kill("SIGTERM");
    const rest = await readUntil(host.stderr, () => false);
    await exitOrKill(host, EXIT_BOUND_MS);
    return `served: ${said}${rest}`;
  }
  return `exit ${await host.exited}: ${said}`;
}

const cases: [string, string, (record: Record<string, unknown>) => void, string][] = [
  ["sync", "kind", (record) => (record.kind = "spoon"), "its kind 'spoon' is not mutex, condvar or channel"],
  ["begin", "epoch", (record) => (record.epoch = "x"), "its epoch 'x' is not a whole number"],
  [
    "grant",
    "mode",
    (record) => (record.mode = "bogus"),
    "its mode 'bogus' is not read, write or write-exclusive",
  ],
  ["session", "clientId", (record) => (record.clientId = null), "its clientId null is not a whole number"],
  [
    "begin",
    "geometry",
    (record) => ((record.geometry as Record<string, unknown>).blockSize = "65536"),
    "its geometry's blockSize '65536' is not a whole number",
  ],
  ["tx", "n", (record) => (record.n = "x"), "its n 'x' is not a whole number from 1"],
  ["tx", "n", (record) => (record.n = 0), "its n 0 is not a whole number from 1"],
];

for (const [type, field, edit, why] of cases)
  test(`a '${type}' record whose ${field} no arbiter writes (${why}) is refused naming its line and field`, async () => {
    const { line, text } = damaged(type, edit);
    const said = await start();
    expect(said).toStartWith("exit 1: ");
    expect(said).toContain(
      `Failed to read ${paths.state} since line ${line} (a '${type}' record): ${why}: the file is damaged`,
    );
    expect(said).not.toMatch(/^\s+at /m);
    expect(said.trim().split("\n")).toHaveLength(1);
    // Refused before anything was written: the journal is as it was left.
    expect(readFileSync(paths.state, "utf8")).toBe(text);
    writeFileSync(paths.state, journal);
  }, 60_000);

test("a 'sync' record of a slot past the region's last is refused on its own line", async () => {
  const { line } = damaged("sync", (record) => (record.slot = 5000));
  const said = await start();
  expect(said).toStartWith("exit 1: ");
  expect(said).toContain(`its record on line ${line} cannot be replayed (`);
  expect(said).toContain("the region has 64 slots");
  writeFileSync(paths.state, journal);
}, 60_000);

// A line copied twice in an editor: the second session record replaced the first with one holding
// nothing (its segments were held for ever by a client whose goodbye released none), the second sync
// record emptied the object's holders. A segment's copy on other blocks (its exact copy is refused as
// blocks taken twice) was taken too: the first segment's blocks were held by an id no longer listed.
const copies: [string, (record: Record<string, unknown>) => void][] = [
  ["session", () => {}],
  ["segment", (record) => (record.firstBlock = 200)],
  ["sync", () => {}],
];
for (const [type, edit] of copies)
  test(`a '${type}' record repeated by hand is refused naming its line, not replayed over the first`, async () => {
    const lines = journal.split("\n").filter((line) => line !== "");
    const copy = JSON.parse(lines.find((line) => line.startsWith(`{"t":"${type}"`))!) as Record<
      string,
      unknown
    >;
    edit(copy);
    lines.push(JSON.stringify(copy));
    writeFileSync(paths.state, `${lines.join("\n")}\n`);
    const said = await start();
    expect(said).toStartWith("exit 1: ");
    expect(said).toContain(`its record on line ${lines.length} cannot be replayed (`);
    expect(said).toContain("live already");
    writeFileSync(paths.state, journal);
  }, 60_000);

test("the undamaged journal resumes", async () => {
  writeFileSync(paths.state, journal);
  expect(await start()).toContain("1 session restored");
}, 60_000);
