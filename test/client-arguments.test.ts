/**
 * What the library says when a caller passes it something it cannot use: the call it made, what was
 * wrong, and the choices (found by a new-user trial: "encode field 'mode' since NaN is outside 0..255",
 * "unlock" for a wait, a 5 000-character name echoed back).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { ChannelReceiver } from "../src/transfer/receiver.ts";
import { ChannelSender } from "../src/transfer/sender.ts";
import { MAX_CHANNEL_NAME_BYTES } from "../src/transfer/slot.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let client: Client;

beforeAll(async () => {
  paths = testPaths("client-arguments");
  arbiter = await ArbiterProcess.start(paths);
  client = await connect({ socket: paths.socket, region: paths.region });
});
afterAll(async () => {
  await client?.close();
  await arbiter?.stop();
  paths?.cleanup();
});

test("a block count of 0 (or a fraction) is refused as such", async () => {
  await expectRejection(
    client.alloc({ blocks: 0 }),
    "InvalidArgument",
    /allocate 0 blocks since the block count must be a positive whole number/,
  );
  await expectRejection(client.alloc({ blocks: 1.5 }), "InvalidArgument", /allocate 1.5 blocks/);
});

// Found by a trial: alloc(2 ** 60) was told "the size must be a positive whole number", which it is; it is
// past what a number holds exactly (2^53), so no region can hold it.
test("a size too large to count exactly is refused as too large, not as a fraction", async () => {
  for (const size of [2 ** 60, { blocks: 2 ** 60 }])
    await expectRejection(
      client.alloc(size),
      "NoSpace",
      /since no region holds that many .*\(allocate less\)/,
    );
  await expectRejection(client.alloc(2 ** 60), "NoSpace", /allocate 1152921504606846976 bytes/);
});

// 9d663332 showed alloc's size exactly; a status limit, a ring's chunk size or depth past 2^53 were still
// shown rounded (2 ** 60 as 1152921504606847000), a number the caller never passed; and a size of 1e300
// was spelled out in 301 digits, where its own spelling is shorter and is what the caller wrote.
test("a number past 2^53 is shown as passed wherever it is refused", async () => {
  const exact = /1152921504606846976 /;
  await expectRejection(client.status(2 ** 60), "InvalidArgument", exact);
  await expectRejection(
    ChannelSender.open(client, "huge-chunks", { chunkBytes: 2 ** 60 }),
    "InvalidArgument",
    exact,
  );
  await expectRejection(
    ChannelSender.open(client, "huge-depth", { depth: 2 ** 60 }),
    "InvalidArgument",
    exact,
  );
  await expectRejection(client.alloc(1e300), "NoSpace", /allocate 1e\+300 bytes since no region holds/);
  // Mutation round 32: a wait's timeout, refused below 0, is shown as passed too.
  const mutex = await client.mutex("shown-timeout");
  await expectRejection(mutex.lock(-(2 ** 60)), "InvalidArgument", /its timeout -1152921504606846976 is not/);
});

// Plain JavaScript passes anything: these threw a bare TypeError ("null is not an object (evaluating
// 'size.blocks')"), no IvshError, and no word of which argument was wrong.
test("an alloc size or options of the wrong type are named, with what to pass instead", async () => {
  // biome-ignore lint/suspicious/noExplicitAny: a caller without types passes anything
  const untyped = client.alloc.bind(client) as (...args: any[]) => Promise<unknown>;
  const notASize =
    /allocate a segment since its size .* is neither a number of bytes nor \{ blocks: count \}/;
  for (const size of [undefined, null, "100", {}, { blocks: "2" }])
    await expectRejection(untyped(size), "InvalidArgument", notASize);
  const notOptions =
    /allocate a segment since its options .* are not an object \(leave them out, or pass \{ mode, name \}\)/;
  for (const options of [null, "write", 5])
    await expectRejection(untyped(10, options), "InvalidArgument", notOptions);
  await expectRejection(untyped(10, { mode: null }), "InvalidArgument", /'null' is not a mode/);
  expect((await client.status()).segments).toEqual([]);
});

// Found by a trial: each of these was taken, the field dropped without a word (an unnamed segment that
// nobody could open, one block instead of three, no name for a typo).
test("a field alloc() does not take, in its size or its options, is named instead of dropped", async () => {
  // biome-ignore lint/suspicious/noExplicitAny: a caller without types passes anything
  const untyped = client.alloc.bind(client) as (...args: any[]) => Promise<unknown>;
  await expectRejection(
    untyped({ blocks: 2, name: "in-the-size" }),
    "InvalidArgument",
    /allocate a segment since its size holds 'name', which it does not take \(blocks only: pass mode and name in the options, the second argument\)/,
  );
  await expectRejection(
    untyped(10, { blocks: 3 }),
    "InvalidArgument",
    /its options hold 'blocks', which it does not take \(mode, name only: the size is the first argument: a number or \{ blocks \}\)/,
  );
  await expectRejection(
    untyped(10, { nmae: "typo", mode: "write" }),
    "InvalidArgument",
    /its options hold 'nmae'/,
  );
  expect((await client.status()).segments).toEqual([]);
});

test("a block count or status argument the wire cannot carry is told in the caller's words, not the codec's", async () => {
  // It said "encode field 'blocks' since 4294967296 is outside 0..4294967295".
  await expectRejection(
    client.alloc({ blocks: 2 ** 32 }),
    "NoSpace",
    /allocate 4294967296 blocks since no region holds more than 4294967295 blocks/,
  );
  const notAWholeNumber =
    /ask the arbiter for its status since its (limit|onlyClient) .* is not a whole number from 0 to/;
  for (const [limit, onlyClient] of [
    [-1, 0],
    [Number.NaN, 0],
    [1e12, 0],
    [10, -5],
  ])
    await expectRejection(client.status(limit, onlyClient), "InvalidArgument", notAWholeNumber);
});

test("the largest block count and status limit the wire carries (2^32 - 1) are the arbiter's to judge", async () => {
  const most = 2 ** 32 - 1;
  // The region cannot hold them, and the arbiter says so: not the library's "more than the wire carries".
  const refused = await client.alloc({ blocks: most }).then(
    () => undefined,
    (error: Error) => error,
  );
  expect(refused?.message ?? "allocated").not.toContain("no region holds more than");
  expect(refused).toMatchObject({ code: "NoSpace" });
  expect((await client.status(most)).clients.length).toBeGreaterThan(0);
});

test("an empty segment name is refused, as an empty mutex name is (it read as 'no name' on the wire)", async () => {
  await expectRejection(
    client.alloc(10, { name: "" }),
    "InvalidArgument",
    /allocate 10 bytes since the name is empty \(leave `name` out for an unnamed segment\)/,
  );
  expect((await client.status()).segments).toEqual([]);
});

test("open, mutex and condvar of an empty name say what a name must be (new-user trial 36: no advice)", async () => {
  const advice = /since the name is empty \(name it: 1 to 255 bytes of UTF-8\)$/;
  await expectRejection(client.open(""), "InvalidArgument", advice);
  await expectRejection(client.mutex(""), "InvalidArgument", advice);
  await expectRejection(client.condvar(""), "InvalidArgument", advice);
});

test("a mode that is none of read, write, write-exclusive is named, with the choices", async () => {
  const choices = /'rw' is not a mode: use read, write, write-exclusive/;
  // biome-ignore lint/suspicious/noExplicitAny: a caller without types passes any string
  await expectRejection(client.alloc(10, { mode: "rw" as any }), "InvalidArgument", choices);
  // biome-ignore lint/suspicious/noExplicitAny: as above
  await expectRejection(client.open("anything", "rw" as any), "InvalidArgument", choices);
});

// Found by a trial: mutex("x", "false") or mutex("x", 0) was taken, any value but false making one.
test("a mutex's or condvar's create flag that is not true or false is named, and nothing is made", async () => {
  // biome-ignore lint/suspicious/noExplicitAny: a caller without types passes anything
  const untyped = client as any;
  const notAFlag = /its create flag .* is not true or false \(false: only open one that exists\)/;
  await expectRejection(untyped.mutex("flagged", "false"), "InvalidArgument", notAFlag);
  await expectRejection(untyped.condvar("flagged", 0), "InvalidArgument", notAFlag);
  expect((await client.status()).sync.filter((object) => object.name === "flagged")).toEqual([]);
  await expectRejection(client.mutex("flagged", false), "NotFound", /nothing by that name exists/);
});

test("a condvar wait without its lock says so, not 'unlock'", async () => {
  const condvar = await client.condvar("waited-unlocked");
  await expectRejection(
    condvar.wait(),
    "NotHeld",
    /wait on 'waited-unlocked' since this client does not hold its lock \(acquire\(\) it first: /,
  );
});

// Found by a trial: a queue guarded pthread's way, a Mutex held around the CondVar's wait(), was told
// "this client does not hold its lock (acquire() it first)" while it held the lock it meant.
test("a condvar wait under a Mutex instead of its own lock is told the condvar is its own lock", async () => {
  const mutex = await client.mutex("queue-guard");
  const condvar = await client.condvar("queue-changed");
  await mutex.lock();
  try {
    await expectRejection(
      condvar.wait(100),
      "NotHeld",
      /since this client does not hold its lock \(acquire\(\) it first: a CondVar is its own lock, and wait\(\) lets go of that one, never of a Mutex\)$/,
    );
  } finally {
    mutex.unlock();
  }
});

test("a lock or wait timeout that is not a number of ms ≥ 0 is refused (NaN spun until the lease was gone)", async () => {
  const mutex = await client.mutex("timed-badly");
  const condvar = await client.condvar("timed-badly-cv");
  for (const timeout of [Number.NaN, -5, "100"]) {
    const shown = typeof timeout === "string" ? '"100"' : String(timeout);
    const refusal = new RegExp(`its timeout ${shown} is not a number of milliseconds ≥ 0`);
    // biome-ignore lint/suspicious/noExplicitAny: a caller without types passes anything
    await expectRejection(mutex.lock(timeout as any), "InvalidArgument", refusal);
    expect(mutex.owner).toBe(0);
    expect(await condvar.lock()).toBe("acquired");
    // biome-ignore lint/suspicious/noExplicitAny: as above
    await expectRejection(condvar.wait(timeout as any), "InvalidArgument", refusal);
    expect(condvar.owner).toBe(client.clientId);
    condvar.unlock();
  }
  expect(await mutex.lock(Number.POSITIVE_INFINITY)).toBe("acquired");
  mutex.unlock();
});

test("a name far too long is cut in the error, not echoed whole", async () => {
  const name = "x".repeat(5000);
  const refused = client.alloc(10, { name });
  await expectRejection(refused, "InvalidArgument", /segment 'x{77}\.\.\.' since the name is longer than/);
});

// Found by a package trial: a name past the wire's 1 MiB frame was refused in the codec's words ("Failed to
// encode op 3 since the frame would be 2000027 bytes"), and a channel's whole name was echoed (2 MB of message).
test("a name past what a frame carries is refused as too long, and cut in the error, for every kind", async () => {
  const name = "z".repeat(2_000_000);
  const cut = "'z{77}\\.\\.\\.'";
  const tooLong = (what: string) =>
    new RegExp(`^Failed to ${what} ${cut} since the name is longer than 255 bytes`);
  await expectRejection(client.alloc(10, { name }), "InvalidArgument", tooLong("allocate segment"));
  await expectRejection(client.open(name), "InvalidArgument", tooLong("open segment"));
  await expectRejection(client.open(name, "bogus" as "read"), "InvalidArgument", tooLong("open segment"));
  await expectRejection(client.mutex(name), "InvalidArgument", tooLong("open mutex"));
  await expectRejection(client.condvar(name), "InvalidArgument", tooLong("open condvar"));
  const channel = new RegExp(
    `^Failed to (send|receive) on channel ${cut} since it is 2000000 bytes: a channel name`,
  );
  await expectRejection(ChannelSender.open(client, name), "InvalidArgument", channel);
  await expectRejection(ChannelReceiver.open(client, name), "InvalidArgument", channel);
  expect((await client.status()).segments).toEqual([]);
});

// The same trial: a client name (for display only, which the arbiter cuts to 255 bytes) past the frame limit
// failed connect() with "Failed to encode op 1 since the frame would be 2000026 bytes".
test("a client name of any length connects, cut to 255 bytes as the arbiter shows it", async () => {
  const named = await connect({ socket: paths.socket, region: paths.region, name: "n".repeat(2_000_000) });
  try {
    const shown = (await named.status()).clients.find((entry) => entry.clientId === named.clientId);
    expect(shown?.name).toBe("n".repeat(255));
  } finally {
    await named.close();
  }
});

test("a connect timeout a timer cannot hold is refused before anything is mapped", async () => {
  for (const connectTimeoutMs of [Number.POSITIVE_INFINITY, Number.NaN, 2 ** 31, -1])
    await expectRejection(
      connect({ socket: paths.socket, region: paths.region, connectTimeoutMs }),
      "InvalidArgument",
      /is not between 0 and 2147483647 ms/,
    );
});

// Only the timeout connect() itself used was checked: a reconnectTimeoutMs of NaN beside a connectTimeoutMs
// (Number() of an unset variable) was taken, and the first restart of the arbiter ended the session at once,
// "did not come back within NaN h NaN min", without a single try.
test("a reconnect timeout a timer cannot hold is refused even beside a valid connect timeout", async () => {
  for (const reconnectTimeoutMs of [Number.POSITIVE_INFINITY, Number.NaN, 2 ** 31, -1])
    await expectRejection(
      connect({ socket: paths.socket, region: paths.region, connectTimeoutMs: 5000, reconnectTimeoutMs }),
      "InvalidArgument",
      /is not between 0 and 2147483647 ms/,
    );
});

test("a name's cut never splits a character made of two UTF-16 units", async () => {
  const name = "😀".repeat(200); // 800 bytes, refused as too long
  const refused = client.alloc(10, { name });
  await expectRejection(refused, "InvalidArgument", new RegExp(`segment '${"😀".repeat(77)}\\.\\.\\.'`, "u"));
});

test("a directory as the region is named as one, not a raw EISDIR", async () => {
  await expectRejection(
    connect({ socket: paths.socket, region: paths.dir }),
    "RegionInvalid",
    /map the region .* since it is a directory \(--region names a file/,
  );
});

// UTF-8 cannot carry half a UTF-16 surrogate pair: each became U+FFFD on the wire, so "alias\uD800" and
// "alias\uDBFF" named one segment (a new-user trial).
test("a name holding half a UTF-16 surrogate pair is refused, not merged with others", async () => {
  await expectRejection(client.alloc(4096, { name: "alias\uD800" }), "InvalidArgument", /surrogate pair/);
  await expectRejection(client.mutex("m\uDFFF"), "InvalidArgument", /surrogate pair/);
  // A client's own name is for display: half a pair there (a cut through argv) is mended, not refused.
  const cut = await connect({ socket: paths.socket, region: paths.region, name: "cut \uD83D" });
  expect((await client.status()).clients.map((each) => each.name)).toContain("cut \uFFFD");
  await cut.close();
  const whole = await client.alloc(4096, { name: "pair \u{1F600}" });
  expect((await client.status()).segments.map((segment) => segment.name)).toContain("pair \u{1F600}");
  await whole.free();
});

// From plain JavaScript: these threw bare TypeErrors ("toWellFormed is not a function"), Bun's
// ERR_INVALID_ARG_TYPE, or said a string "100" was an out-of-range timeout.
test("connect options of the wrong type are refused, naming the option and what it must be", async () => {
  const where = { socket: paths.socket, region: paths.region };
  // biome-ignore lint/suspicious/noExplicitAny: a caller without types passes anything
  const untyped = connect as (options: any) => Promise<Client>;
  await expectRejection(
    untyped(null),
    "InvalidArgument",
    /connect to the arbiter since its options null are not an object/,
  );
  await expectRejection(untyped(paths.socket), "InvalidArgument", /its options '.*' are not an object/);
  // An array is an object to typeof, and its options would have been read as none given.
  await expectRejection(untyped([]), "InvalidArgument", /its options \(an array\) are not an object/);
  const wrong: [string, unknown, string][] = [
    ["socket", 5, "a string"],
    ["name", 5, "a string"],
    ["reconnectTimeoutMs", "100", "a number"],
    ["futexParking", "no", "true or false"],
    ["signal", {}, "an AbortSignal"],
  ];
  for (const [key, value, type] of wrong)
    await expectRejection(
      untyped({ ...where, [key]: value }),
      "InvalidArgument",
      new RegExp(`its ${key} option .* is not ${type}$`),
    );
});

test("an empty socket, region or tcp option is refused, not taken as the default", async () => {
  for (const key of ["socket", "region", "tcp"])
    await expectRejection(
      connect({ [key]: "" }),
      "InvalidArgument",
      new RegExp(`the ${key} option is empty`),
    );
});

test("a channel name that is empty or too long is refused by the library as by the CLI", async () => {
  const longest = MAX_CHANNEL_NAME_BYTES;
  await expectRejection(
    ChannelSender.open(client, ""),
    "InvalidArgument",
    /it is empty: a channel name is 1 to/,
  );
  await expectRejection(
    ChannelReceiver.open(client, "x".repeat(longest + 1)),
    "InvalidArgument",
    new RegExp(`it is ${longest + 1} bytes: a channel name is 1 to ${longest} bytes`),
  );
});

test("an abort without a reason says it was aborted, not 'AbortError: The operation was aborted.'", async () => {
  const controller = new AbortController();
  controller.abort();
  await expectRejection(
    ChannelReceiver.open(client, "aborted", { signal: controller.signal }),
    "Interrupted",
    /since it was aborted$/,
  );
});
