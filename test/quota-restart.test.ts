/**
 * Quotas across restarts: a segment counts against its creator's VM for as long as it lives, whoever
 * still holds it, and a restarted arbiter must count it the same way (a snapshot of the state, written at
 * every start and by every compaction, no longer has the creator's session to say which VM that was).
 */
import { afterAll, beforeAll, beforeEach, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("quota-restart");
  // 64 KiB blocks: the VM quota is 4 blocks.
  arbiter = await ArbiterProcess.start(paths, { lease: "10s", extra: ["--vm-quota", "256KiB"] });
});
beforeEach(() => arbiter.revive());
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("a segment whose creator left still counts against its VM's quota after two restarts", async () => {
  const creator = await connect(clientConfig(paths, { name: "creator" }));
  const holder = await connect(clientConfig(paths, { name: "holder" }));
  await creator.alloc(3 * 65536, { name: "kept" });
  await holder.open("kept", "read");
  await creator.close();
  const other = await connect(clientConfig(paths, { name: "other" }));
  // Live: the host VM holds 3 of its 4 blocks (charged to the creator's VM, though the creator is gone).
  await expectRejection(other.alloc(2 * 65536), "QuotaExceeded", /VM 'host' holds 3 blocks/);
  await other.close();

  // The first restart replays the journal (the creator's session is in it); the second one the snapshot
  // the first wrote, which records the segment but no longer the session of the creator.
  for (let restart = 0; restart < 2; restart++) {
    await arbiter.kill9();
    await arbiter.restart();
  }
  const after = await connect(clientConfig(paths, { name: "after" }));
  await expectRejection(after.alloc(2 * 65536), "QuotaExceeded", /VM 'host' holds 3 blocks/);
  await after.close();
  await holder.close();
});
