/**
 * A channel NAME lives among the arbiter's names as the slot 'channel:NAME'. A mutex or condition variable
 * that a client names so took that name first, and every transfer on the channel then failed, told "Failed
 * to open channel 'channel:NAME' since 'channel:NAME' is a mutex": a channel the user never named that
 * way, and nothing to do about it.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
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
