/**
 * An arbiter's journal removed under it (`rm /dev/shm/ivsh*`) and a second arbiter started on the same
 * paths: the first one's keeper, writing its journal again, renamed it over the second's if the second
 * created its own while the first was writing (a large state: tens of milliseconds of JSON and fsync).
 * The second then served with no journal at its path (its allocations recorded nowhere a restart finds),
 * and the path held the first one's journal, of a region file no longer there. A keeper that found its
 * path empty now takes it only if it is still empty (linked, as a first start does), and one it finds
 * taken so says at once that another arbiter keeps its journal there (not "gone"). The keeper is a
 * process of its own (test/fixtures/racing-keeper.ts); the second journal is this process's.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync, rmSync } from "node:fs";
import { isIvshError } from "../src/errors.ts";
import type { StateRecord } from "../src/host/records.ts";
import { StateFile } from "../src/host/state-file.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { spawnFixture } from "./helpers/processes.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("journal-keeper-race");
});
afterAll(() => paths?.cleanup());

const SECOND = [{ t: "begin", second: true } as unknown as StateRecord];

test("a keeper writing its removed journal again leaves one another arbiter made there meanwhile", async () => {
  const keeper = spawnFixture("racing-keeper", { socket: "", state: paths.state, records: 200_000 });
  let second: StateFile | undefined;
  let kept: Record<string, unknown> = {};
  try {
    await keeper.events.next("ready", 60_000);
    // Until the second journal was made while the keeper wrote (a keeper that finished first refuses it).
    let attempt = 0;
    for (; attempt < 20 && second === undefined; attempt++) {
      rmSync(paths.state, { force: true });
      keeper.proc.stdin.write("keep\n");
      keeper.proc.stdin.flush();
      await keeper.events.next("rewriting", 60_000);
      try {
        second = StateFile.create(paths.state, SECOND, true);
      } catch (error) {
        if (!isIvshError(error, "ArbiterRunning")) throw error;
      }
      kept = await keeper.events.next("kept", 60_000);
    }
    if (second === undefined) throw new Error("the keeper wrote its journal before each of 20 starts");
    console.log(`the second journal was made while the keeper wrote, at attempt ${attempt}`);
    expect(second.stillAtPath()).toBe(true);
    expect(readFileSync(paths.state, "utf8")).toBe(`${JSON.stringify(SECOND[0])}\n`);
    // It says so as another arbiter's journal at once, not as its own gone (what its stop would repeat).
    expect(kept).toMatchObject({ atPath: false, takenOver: true });
    // And leaves it alone from then on.
    keeper.proc.stdin.write("keep\n");
    keeper.proc.stdin.flush();
    expect(await keeper.events.next("kept", 60_000)).toMatchObject({ atPath: false, takenOver: true });
    expect(second.stillAtPath()).toBe(true);
    keeper.proc.kill("SIGKILL");
    await keeper.proc.exited;
    const said = await keeper.stderr;
    expect(said).toContain("another arbiter");
    expect(said).not.toContain("cannot be written again");
  } finally {
    second?.close();
    keeper.proc.kill("SIGKILL");
    await keeper.proc.exited;
  }
}, 120_000);
