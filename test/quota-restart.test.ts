/**
 * Quotas across restarts: a segment counts against its creator's VM for as long as it lives, whoever
 * still holds it, and a restarted arbiter must count it the same way (a snapshot of the state, written at
 * every start and by every compaction, no longer has the creator's session to say which VM that was).
 */
import { test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { ChannelSender } from "../src/transfer/sender.ts";
import { expectRejection } from "./helpers/errors.ts";
import { clientConfig } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

// 64 KiB blocks: the VM quota is 4 blocks.
const suite = sharedArbiter("quota-restart", { lease: "10s", extra: ["--vm-quota", "256KiB"] });

test("a segment whose creator left still counts against its VM's quota after two restarts", async () => {
  const creator = await connect(clientConfig(suite.paths, { name: "creator" }));
  const holder = await connect(clientConfig(suite.paths, { name: "holder" }));
  await creator.alloc(3 * 65536, { name: "kept" });
  await holder.open("kept", "read");
  await creator.close();
  const other = await connect(clientConfig(suite.paths, { name: "other" }));
  // Live: the host VM holds 3 of its 4 blocks (charged to the creator's VM, though the creator is gone).
  await expectRejection(other.alloc(2 * 65536), "QuotaExceeded", /VM 'host' already has 3 blocks/);
  await other.close();

  // The first restart replays the journal (the creator's session is in it); the second one the snapshot
  // the first wrote, which records the segment but no longer the session of the creator.
  for (let restart = 0; restart < 2; restart++) {
    await suite.arbiter.kill9();
    await suite.arbiter.restart();
  }
  const after = await connect(clientConfig(suite.paths, { name: "after" }));
  await expectRejection(after.alloc(2 * 65536), "QuotaExceeded", /VM 'host' already has 3 blocks/);
  await after.close();
  await holder.close();
});

test("a ring the VM's quota refuses suggests a larger --vm-quota, not --client-quota or --size", async () => {
  const client = await connect(clientConfig(suite.paths, { name: "ring-over-quota" }));
  try {
    await expectRejection(
      ChannelSender.open(client, "vm-quota-ring", { chunkBytes: 65536, depth: 8 }),
      "QuotaExceeded",
      /pass a smaller --chunk-size or --depth .*or start the arbiter with a larger --vm-quota$/,
    );
  } finally {
    await client.close();
  }
});
