/**
 * What a segment's other holders see when the process that allocated it (write-exclusive) is killed: the
 * app trial (33) found the reference silent on it. The segment, its data and its name stay theirs; the
 * creator's bar on writers goes with it; the last holder's free() deletes it and frees the name. The
 * reference (Client.alloc, the README) now says so, and this checks both the words and the behaviour.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, spawnFixture } from "./helpers/processes.ts";

const REPO = join(import.meta.dir, "..");
let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("outlives-creator");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("a write-exclusive creator killed -9 leaves the segment, its data and its name to its readers", async () => {
  const reader = await connect({ socket: paths.socket, region: paths.region, name: "reader" });
  const writer = await connect({ socket: paths.socket, region: paths.region, name: "writer" });
  const creator = spawnFixture(
    "holder",
    clientConfig(paths, { segment: "outlives", mutex: "outlives-lock", mode: "write-exclusive", fill: 7 }),
  );
  try {
    await creator.events.next("holding");
    const view = await reader.open("outlives", "read");
    await expectRejection(writer.open("outlives", "write"), "PermissionDenied", /holds it write-exclusive/);
    creator.proc.kill("SIGKILL");
    await creator.proc.exited;
    // The arbiter learns of the death from the closed connection: the segment is the reader's alone then.
    for (let tries = 0; (await reader.status()).segments[0]?.holderCount !== 1; tries++) {
      expect(tries).toBeLessThan(200);
      await Bun.sleep(50);
    }
    expect(view.bytes.every((byte) => byte === 7)).toBe(true);
    await expectRejection(writer.alloc(4096, { name: "outlives" }), "AlreadyExists");
    const written = await writer.open("outlives", "write");
    written.bytes[0] = 8;
    expect(view.bytes[0]).toBe(8);
    await written.free();
    await view.free();
    await expectRejection(writer.open("outlives"), "NotFound");
    const fresh = await writer.alloc(4096, { name: "outlives" });
    expect(fresh.bytes[0]).toBe(0);
    await fresh.free();
  } finally {
    creator.proc.kill("SIGKILL");
    await reader.close();
    await writer.close();
  }
}, 60_000);

test("the reference says a segment outlives its creator and ends with its last holder", () => {
  const alloc = readFileSync(join(REPO, "docs/api/ivsh/classes/Client.md"), "utf8");
  const readme = readFileSync(join(REPO, "README.md"), "utf8").replace(/\s+/g, " ");
  for (const text of [alloc.replace(/\s+/g, " "), readme]) {
    expect(text).toContain("its creator has no rights the others lack");
    expect(text).toMatch(/hands (it|the segment), its data and its name to the other holders/);
  }
  expect(readme).toContain("once a `write-exclusive` creator is gone, another client may open it `write`");
});

test("the reference says a condvar's wait() lets go of its own lock only, and a queue's two conditions share one", () => {
  const condvar = readFileSync(join(REPO, "docs/api/ivsh/classes/CondVar.md"), "utf8").replace(/\s+/g, " ");
  const readme = readFileSync(join(REPO, "README.md"), "utf8").replace(/\s+/g, " ");
  expect(condvar).toContain("wait() lets go of this lock only, not of a Mutex");
  expect(readme).toContain("lets go of that lock only, never of a `Mutex`");
  expect(readme).toContain("woken with `broadcast()`");
});
