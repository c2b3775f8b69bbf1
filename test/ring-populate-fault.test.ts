/**
 * A ring whose pages are gone when an end first touches it. The region file truncated while in use makes
 * populating the ring (madvise MADV_POPULATE_*) fail with EFAULT; that end said only "madvise ring
 * channel:NAME:N: EFAULT (Bad address)" (a CI run of test/host-state.test.ts, when the truncation came
 * before the receiver had opened the ring), where a chunk's read or write says what happened. The fault
 * is injected here (the truncation itself races the arbiter's sweep, which stops it within a second), so
 * each end meets it at that step for certain; the arbiter is a process of its own.
 */
import { afterAll, afterEach, beforeAll, expect, test } from "bun:test";
import { constants } from "node:os";
import { failure } from "../src/errors.ts";
import { SystemCallError } from "../src/ffi/index.ts";
import { type Client, connect } from "../src/guest/index.ts";
import { ChannelReceiver, ChannelSender } from "../src/transfer/index.ts";
import { Ring } from "../src/transfer/ring.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
const clients: Client[] = [];
const populate = Ring.prototype.populate;

beforeAll(async () => {
  paths = testPaths("ring-populate-fault");
  arbiter = await ArbiterProcess.start(paths);
});
afterEach(async () => {
  Ring.prototype.populate = populate;
  await Promise.all(clients.splice(0).map((client) => client.close()));
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

async function client(name: string): Promise<Client> {
  const made = await connect({ socket: paths.socket, region: paths.region, name });
  clients.push(made);
  return made;
}

/** The next populate fails as on a truncated region's ring. */
function failNextPopulate(): void {
  Ring.prototype.populate = function (this: Ring) {
    Ring.prototype.populate = populate;
    throw new SystemCallError("madvise", "ring (test)", constants.errno.EFAULT);
  };
}

const GONE = "the shared region's pages behind the ring are gone (EFAULT)";
const escaped = (text: string) => text.replace(/[()]/g, "\\$&");

/** The segments named `prefix`... that `client` holds, as the arbiter (a process of its own) reports them. */
async function ringsHeld(client: Client, prefix: string): Promise<string[]> {
  const { segments } = await client.status();
  return segments
    .filter((segment) => segment.name?.startsWith(prefix))
    .filter((segment) => segment.holders.some((holder) => holder.clientId === client.clientId))
    .map((segment) => String(segment.name));
}

test("the sender's ring faulting as it is populated: the sender says the region's pages are gone, and gives the ring back", async () => {
  const sending = await client("populate-fault sender");
  failNextPopulate();
  await expectRejection(
    ChannelSender.open(sending, "populate-sender"),
    "RegionInvalid",
    new RegExp(`^Failed to send on channel 'populate-sender' since ${escaped(GONE)}`),
  );
  // Before: the ring stayed this client's until it closed.
  expect(await ringsHeld(sending, "channel:populate-sender:")).toEqual([]);
});

test("the receiver's ring faulting as it is populated: the receiver says the region's pages are gone, and gives the ring back", async () => {
  const [sending, receiving] = [
    await client("populate-fault sender"),
    await client("populate-fault receiver"),
  ];
  const sender = await ChannelSender.open(sending, "populate-receiver");
  failNextPopulate();
  await expectRejection(
    ChannelReceiver.open(receiving, "populate-receiver"),
    "RegionInvalid",
    new RegExp(`^Failed to receive on channel 'populate-receiver' since ${escaped(GONE)}`),
  );
  // Before: the sender's ring stayed this receiver's too, until it closed.
  expect(await ringsHeld(receiving, "channel:populate-receiver:")).toEqual([]);
  await sender.close();
});

test("the receiver's ring faulting, and its free then failing otherwise than by a full journal: the fault is what is told", async () => {
  const [sending, receiving] = [
    await client("populate-fault sender"),
    await client("populate-fault receiver"),
  ];
  const sender = await ChannelSender.open(sending, "populate-free-fails");
  // The ring's free fails (as an arbiter's unexpected refusal would) while the receiver gives it back.
  const open = receiving.openLettingGo.bind(receiving);
  const frees: (() => Promise<void>)[] = [];
  receiving.openLettingGo = async (...args: Parameters<typeof open>) => {
    const segment = await open(...args);
    frees.push(segment.freeLettingGo.bind(segment));
    segment.freeLettingGo = () =>
      Promise.reject(failure("Internal", "free segment (test)", "the test refused it"));
    return segment;
  };
  failNextPopulate();
  await expectRejection(
    ChannelReceiver.open(receiving, "populate-free-fails"),
    "RegionInvalid",
    new RegExp(`^Failed to receive on channel 'populate-free-fails' since ${escaped(GONE)}`),
  );
  await Promise.all(frees.map((free) => free()));
  await sender.close();
});
