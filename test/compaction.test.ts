/**
 * The --state journal is compacted by a helper process while the arbiter goes on serving, and what the
 * compacted file says is the whole state: a `kill -9` right after brings every segment back.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { chmodSync, chownSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { basename, dirname } from "node:path";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { compactJournal } from "../src/host/compaction.ts";
import type { StateRecord } from "../src/host/records.ts";
import { ArbiterState } from "../src/host/state.ts";
import { StateFile } from "../src/host/state-file.ts";
import { expectFailure } from "./helpers/errors.ts";
import { beginRecord, SMALL_GEOMETRY } from "./helpers/journal.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, runCli } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
/** Small enough that a few hundred requests compact the journal several times. */
const COMPACT_AFTER = 100;

beforeAll(async () => {
  paths = testPaths("compaction");
  arbiter = await ArbiterProcess.start(paths, {
    blockSize: "4KiB",
    env: { IVSH_COMPACT_AFTER_RECORDS: String(COMPACT_AFTER) },
  });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

function journalLines(): StateRecord[] {
  return readFileSync(paths.state, "utf8")
    .split("\n")
    .filter((line) => line !== "")
    .map((line) => JSON.parse(line) as StateRecord);
}

test("a journal compacted under load keeps every segment across kill -9", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region, name: "compacted" });
  const kept: string[] = [];
  let appended = 0;
  // Each round appends records (a segment, its grant, the reply; then an ungrant, a free, a reply).
  for (let round = 0; round < 400; round++) {
    const name = `c${round}`;
    const segment = await client.alloc(4096, { name });
    if (round % 3 === 0) await segment.free();
    else kept.push(name);
    appended += round % 3 === 0 ? 6 : 3;
  }
  // The sweep starts a compaction at most once a second; each takes a helper process's start-up.
  const deadline = Date.now() + 30_000;
  while (journalLines().length >= appended && Date.now() < deadline) await Bun.sleep(100);
  const records = journalLines();
  expect(records.length).toBeLessThan(appended);
  expect(records[0]?.t).toBe("begin");
  const stateDir = dirname(paths.state);
  expect(
    readdirSync(stateDir).filter((name) => name.startsWith(`${basename(paths.state)}.compact-`)),
  ).toEqual([]);

  await arbiter.kill9();
  await arbiter.restart();
  const { report } = await fetchStatus({ unix: paths.socket }, 1000);
  expect(report.segments.map((segment) => segment.name).sort()).toEqual(kept.sort());
  // The client resumes its session on the restarted arbiter and can free what it kept.
  const again = await client.open(kept[0]!, "read").catch((error: Error) => error);
  expect(again).toBeInstanceOf(Error); // it already holds it: the session (and grant) came back
  await client.close();
});

test("compactJournal replays exactly the prefix it is given", () => {
  const noSlots = { initialise() {}, clear() {}, releaseDeadOwner: () => false };
  const state = new ArbiterState(SMALL_GEOMETRY, { clientQuotaBlocks: 0, vmQuotaBlocks: 0 }, noSlots);
  const lines: string[] = [];
  state.attachJournal({ append: (record) => lines.push(`${JSON.stringify(record)}\n`) });
  state.commit(beginRecord());
  const session = state.openSession("a", 1, "host");
  state.allocate(session, 4096, 0, "write", "one");
  const prefix = lines.join("");
  state.allocate(session, 4096, 0, "write", "two");
  const path = `${paths.dir}/journal`;
  writeFileSync(path, lines.join(""));
  // An operator's mode (a monitoring group may read it) survives the rewrite, whatever the umask.
  chmodSync(path, 0o640);
  const group = process.getuid?.() === 0 ? 1 : statSync(path).gid;
  chownSync(path, statSync(path).uid, group);
  const out = `${paths.dir}/snapshot`;
  const upto = Buffer.byteLength(prefix);
  const { snapshotRecords, copiedUpto, tailRecords } = compactJournal(path, upto, out);
  expect(statSync(out).mode & 0o777).toBe(0o640);
  expect(statSync(out).gid).toBe(group);
  const written = readFileSync(out, "utf8").trim().split("\n");
  // The snapshot of the prefix, then the records after it copied as they are.
  const snapshot = written.slice(0, snapshotRecords);
  expect(snapshot.some((line) => line.includes('"one"'))).toBe(true);
  expect(snapshot.some((line) => line.includes('"two"'))).toBe(false);
  expect(written.slice(snapshotRecords).join("\n")).toBe(lines.join("").slice(upto).trim());
  expect(tailRecords).toBe(lines.length - prefix.split("\n").length + 1);
  expect(copiedUpto).toBe(Buffer.byteLength(lines.join("")));
  expectFailure(
    () => compactJournal(path, Buffer.byteLength(prefix) - 3, out),
    "StateInvalid",
    /not the end of a record/,
  );
});

test("catching up copies whole records only: a record being written is left to the arbiter", () => {
  const path = `${paths.dir}/torn-tail`;
  const begin = `${JSON.stringify(beginRecord())}\n`;
  const whole = `${JSON.stringify({ t: "epoch", epoch: 2 })}\n`;
  writeFileSync(path, `${begin}${whole}{"t":"epo`);
  const out = `${paths.dir}/torn-tail.out`;
  const result = compactJournal(path, Buffer.byteLength(begin), out);
  expect(result).toMatchObject({ copiedUpto: Buffer.byteLength(begin + whole), tailRecords: 1 });
  expect(readFileSync(out, "utf8").endsWith(whole)).toBe(true);
});

test("a snapshot that vanished before the take-over is not replaced by the tail alone", () => {
  const path = `${paths.dir}/vanishing.state`;
  const begin = beginRecord();
  const journal = StateFile.create(path, [begin]);
  journal.append({ t: "epoch", epoch: 2 });
  const plan = journal.compactionPlan();
  journal.append({ t: "epoch", epoch: 3 });
  // The helper's snapshot is gone (another arbiter removed it as a leftover): nothing may be renamed.
  const result = { snapshotRecords: 1, copiedUpto: plan.upto, tailRecords: 0 };
  expect(() => journal.finishCompaction(plan, result)).toThrow(/ENOENT/);
  writeFileSync(plan.out, '{"t":"epoch","epoch":9}\n'); // and one that is not a snapshot is refused
  expectFailure(() => journal.finishCompaction(plan, result), "StateInvalid", /not a snapshot/);
  journal.append({ t: "epoch", epoch: 4 });
  journal.close();
  expect(epochsIn(path)).toEqual([1, 2, 3, 4]);
});

test("records the arbiter appended after the helper's last catch-up round are kept by the take-over", () => {
  const path = `${paths.dir}/late-tail.state`;
  const journal = StateFile.create(path, [beginRecord()]);
  journal.append({ t: "epoch", epoch: 2 });
  const plan = journal.compactionPlan();
  journal.append({ t: "epoch", epoch: 3 }); // copied by the helper's catch-up
  const result = compactJournal(path, plan.upto, plan.out);
  journal.append({ t: "epoch", epoch: 4 }); // after the helper returned: the arbiter's to copy
  journal.finishCompaction(plan, result);
  journal.append({ t: "epoch", epoch: 5 });
  journal.close();
  expect(epochsIn(path)).toEqual([2, 3, 4, 5]);
});

test("compact-state run by hand: usage errors exit 2, a live pid that did not start it and a directory are named", async () => {
  const helper = (flags: string[]) =>
    runCli(["compact-state", "--state", paths.state, "--out", `${paths.dir}/by-hand`, ...flags]);
  const badUpto = await helper(["--upto", "abc", "--arbiter", "1"]);
  expect(badUpto.exitCode).toBe(2);
  expect(badUpto.stderr).toContain("--upto 'abc'");
  // pid 1 is alive: it is not "gone", it just did not start this helper.
  const notParent = await helper(["--upto", "10", "--arbiter", "1"]);
  expect(notParent.exitCode).toBe(1);
  expect(notParent.stderr).toContain("pid 1 did not start it");
  const directory = await runCli([
    ...["compact-state", "--state", paths.dir, "--upto", "10"],
    ...["--arbiter", String(process.pid), "--out", `${paths.dir}/by-hand`],
  ]);
  expect(directory.exitCode).toBe(1);
  expect(directory.stderr).toContain(`read the state journal ${paths.dir} since`);
  expect(readdirSync(paths.dir)).not.toContain("by-hand");
});

// An arbiter that asked and then died (its helper outliving it) is said to be gone, not a pid that "did
// not start it": the helper's own words for why it does nothing.
test("compact-state for an arbiter pid that has exited: the arbiter that asked is gone", async () => {
  const exited = Bun.spawn(["true"]);
  await exited.exited;
  const result = await runCli([
    ...["compact-state", "--state", paths.state, "--upto", "10"],
    ...["--arbiter", String(exited.pid), "--out", `${paths.dir}/by-hand`],
  ]);
  expect(result.exitCode).toBe(1);
  expect(result.stderr).toContain(`the arbiter that asked (pid ${exited.pid}) is gone`);
});

/** The epoch each record of the journal at `path` sets, in order (undefined for records of other kinds). */
function epochsIn(path: string): (number | undefined)[] {
  return readFileSync(path, "utf8")
    .trim()
    .split("\n")
    .map((line) => JSON.parse(line) as StateRecord)
    .map((record) => ("epoch" in record ? record.epoch : undefined));
}
