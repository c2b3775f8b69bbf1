/**
 * A sender's own head counter overwritten by another guest while it waits for room (its ring full, no
 * receiver yet): it fails naming the word instead of waiting for ever on a receiver that, joining, would
 * read records the sender never wrote (sender.ts checkOwnHead).
 */
import { expect, test } from "bun:test";
import { channelProbes } from "./helpers/channel-probes.ts";
import { eventually, livenessBoundMs } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest } from "./helpers/transfer.ts";

const LEASE_MS = 5000;
const DEPTH = 2;
const suite = sharedArbiter("mut22-head", { size: "64MiB", lease: `${LEASE_MS}ms` });
const { expectNothingHeld, writeChannelWord } = channelProbes(suite, LEASE_MS);

test("a sender waiting for room whose head counter was overwritten fails naming it, not waits on", async () => {
  const args = ["send", "-", "--channel", "head-scribbled", "--chunk-size", "64KiB", "--depth", `${DEPTH}`];
  const sender = guest(suite.paths, args);
  // More than the ring holds, and no receiver: the sender fills the ring, then waits.
  // Not awaited: the pipe takes only what the ring and the pipe buffer hold.
  sender.proc.stdin.write(new Uint8Array(1 << 20).fill(5));
  void Promise.resolve(sender.proc.stdin.flush()).catch(() => undefined); // EPIPE once the sender failed
  const head = () => writeChannelWord("head-scribbled", "head", (value) => value);
  await eventually(async () => (await head()) === DEPTH, livenessBoundMs(LEASE_MS), "the ring filled");
  await writeChannelWord("head-scribbled", "head", (value) => value + 1000);
  expect(await sender.exit(livenessBoundMs(LEASE_MS))).toBe(1);
  expect(await sender.stderr).toMatch(
    /the head counter holds 1002, not the 2 we published: the region was overwritten/,
  );
  await expectNothingHeld();
}, 60_000);
