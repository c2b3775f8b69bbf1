/**
 * A channel NAME lives among the arbiter's names as the slot 'channel:NAME'. A mutex or condition variable
 * that a client names so took that name first, and every transfer on the channel then failed, told "Failed
 * to open channel 'channel:NAME' since 'channel:NAME' is a mutex": a channel the user never named that
 * way, and nothing to do about it.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
import { accessModeOf } from "../src/protocol/messages.ts";
import { expectRejection } from "./helpers/errors.ts";
import { clientConfig } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest, outPath, randomFile, sameBytes } from "./helpers/transfer.ts";

const suite = sharedArbiter("channel-names");

test("a mutex or condvar cannot take a channel's name; the channel stays usable", async () => {
  const client = await connect(clientConfig(suite.paths, { name: "squatter" }));
  await expectRejection(client.mutex("channel:taken"), "InvalidArgument", /'channel:' .*channels/);
  await expectRejection(client.condvar("channel:taken"), "InvalidArgument", /'channel:' .*channels/);
  // Other names with a colon are the users' own.
  await (await client.mutex("channels:mine")).close();
  const data = await randomFile(outPath(suite.paths, "taken.in"), 64 << 10);
  const output = outPath(suite.paths, "taken.out");
  const receiver = guest(suite.paths, ["recv", "-q", "--channel", "taken", "--out", output]);
  const sender = guest(suite.paths, ["send", "-q", "--channel", "taken", outPath(suite.paths, "taken.in")]);
  expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
  expect(sameBytes(readFileSync(output), data)).toBe(true);
  await client.close();
}, 60_000);

/**
 * A channel's rings are the segments 'channel:NAME:TRANSFER'. A user's segments named so were allocated,
 * and the sender skipped each name taken: 'channel:squat:1' to 'channel:squat:18' and every send on
 * channel squat failed, told "Failed to allocate segment 'channel:squat:18' since a segment by that name
 * exists (open it instead)".
 */
test("a user's segment cannot take a channel ring's name; the channel stays usable", async () => {
  const client = await connect(clientConfig(suite.paths, { name: "ring squatter" }));
  for (let transfer = 1; transfer <= 18; transfer++)
    await expectRejection(
      client.alloc(4096, { name: `channel:squat:${transfer}` }),
      "InvalidArgument",
      /'channel:' are the rings of ivsh guest send and recv's channels/,
    );
  // Other names with a colon are the users' own.
  await (await client.alloc(4096, { name: "channels:squat:1" })).free();
  const data = await randomFile(outPath(suite.paths, "squat.in"), 64 << 10);
  const output = outPath(suite.paths, "squat.out");
  const receiver = guest(suite.paths, ["recv", "-q", "--channel", "squat", "--out", output]);
  const sender = guest(suite.paths, ["send", "-q", "--channel", "squat", outPath(suite.paths, "squat.in")]);
  expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
  expect(sameBytes(readFileSync(output), data)).toBe(true);
  await client.close();
}, 60_000);

/**
 * alloc() refuses those names, but the arbiter did not: a client from before that check (a VM's older
 * ivsh), or any peer speaking the protocol, still took 'channel:squat:1' to 'channel:squat:18', and
 * every send on channel squat failed. The arbiter now refuses a ring's name to all but a client holding
 * that channel's slot (its sender, which allocates its rings once it holds its role).
 */
test("the arbiter refuses a channel ring's name to a client that is not on the channel", async () => {
  const client = await connect(clientConfig(suite.paths, { name: "older squatter" }));
  const mode = accessModeOf("write", "allocate");
  for (let transfer = 1; transfer <= 18; transfer++)
    await expectRejection(
      // The request as a library without the check sends it.
      client.transport.request("alloc", { bytes: 4096, blocks: 0, mode, name: `channel:older:${transfer}` }),
      "InvalidArgument",
      /'channel:' are the rings of ivsh guest send and recv's channels/,
    );
  const data = await randomFile(outPath(suite.paths, "older.in"), 64 << 10);
  const output = outPath(suite.paths, "older.out");
  const receiver = guest(suite.paths, ["recv", "-q", "--channel", "older", "--out", output]);
  const sender = guest(suite.paths, ["send", "-q", "--channel", "older", outPath(suite.paths, "older.in")]);
  expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
  expect(sameBytes(readFileSync(output), data)).toBe(true);
  await client.close();
}, 60_000);
