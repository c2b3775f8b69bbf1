/**
 * What a caller without types (plain JavaScript, JSON-fed configuration) gets for a name or data of the
 * wrong type (found by a developer's trial of the API): names were coerced to strings on the wire, so
 * `open(5)` looked for '5' and `condvar({})` made '[object Object]'; `sender.write("text")` sent nothing
 * and succeeded; `shm_dealloc(undefined)` threw a bare TypeError.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { shm_dealloc, shm_init } from "../src/guest/shm.ts";
import { ChannelReceiver, ChannelSender } from "../src/transfer/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let client: Client;

beforeAll(async () => {
  paths = testPaths("untyped-callers");
  arbiter = await ArbiterProcess.start(paths);
  client = await connect({ socket: paths.socket, region: paths.region });
});
afterAll(async () => {
  await client?.close();
  await arbiter?.stop();
  paths?.cleanup();
});

// biome-ignore lint/suspicious/noExplicitAny: a caller without types passes anything
const untyped = (value: unknown) => value as any;

test("a name that is not a string is refused, and nothing is made under its string form", async () => {
  for (const name of [5, {}, null, undefined]) {
    const notString = /its name .* is not a string/;
    await expectRejection(client.open(untyped(name)), "InvalidArgument", notString);
    await expectRejection(client.mutex(untyped(name)), "InvalidArgument", notString);
    await expectRejection(client.condvar(untyped(name)), "InvalidArgument", notString);
    await expectRejection(ChannelSender.open(client, untyped(name)), "InvalidArgument", notString);
    await expectRejection(ChannelReceiver.open(client, untyped(name)), "InvalidArgument", notString);
    if (name !== undefined)
      // left out, a segment is unnamed
      await expectRejection(client.alloc(10, { name: untyped(name) }), "InvalidArgument", notString);
  }
  const status = await client.status();
  expect(status.segments).toEqual([]);
  expect(status.sync).toEqual([]);
});

test("half a surrogate pair in a name is refused in the caller's words, not the codec's", async () => {
  const broken = "frame-\ud800";
  const half = /its name holds half of a UTF-16 surrogate pair.*toWellFormed/;
  await expectRejection(client.alloc(10, { name: broken }), "InvalidArgument", half);
  await expectRejection(client.open(broken), "InvalidArgument", half);
  await expectRejection(client.mutex(broken), "InvalidArgument", half);
});

test("sender.write() of a string or an array is refused; other views of bytes are sent as bytes", async () => {
  const other = await connect({ socket: paths.socket, region: paths.region });
  const receiving = (async () => {
    const receiver = await ChannelReceiver.open(other, "untyped-write");
    const parts: number[] = [];
    while ((await receiver.receive((chunk) => parts.push(...chunk))) !== undefined) {}
    await receiver.close();
    return parts;
  })();
  const sender = await ChannelSender.open(client, "untyped-write");
  await expectRejection(sender.write(untyped("text")), "InvalidArgument", /not a string \(encode it first/);
  await expectRejection(sender.write(untyped([1, 2])), "InvalidArgument", /not an array/);
  await expectRejection(sender.write(untyped(undefined)), "InvalidArgument", /not undefined/);
  await expectRejection(
    sender.write(untyped({})),
    "InvalidArgument",
    /takes bytes \(a Uint8Array\), not an object$/,
  );
  await sender.write(new Uint16Array([0x0201]));
  await sender.write(new Uint8Array([3]).buffer);
  // A view at an offset into its buffer: its own bytes, not the buffer's from 0 nor to its end.
  await sender.write(new DataView(new Uint8Array([9, 9, 4, 5, 9]).buffer, 2, 2));
  const shared = new SharedArrayBuffer(1);
  new Uint8Array(shared)[0] = 6;
  await sender.write(shared);
  expect((await sender.finish()).bytes).toBe(6);
  await sender.close();
  expect(await receiving).toEqual([1, 2, 3, 4, 5, 6]);
  await other.close();
});

test("sender.write() of bytes whose ArrayBuffer was transferred is refused naming why, not a TypeError nor nothing sent", async () => {
  const other = await connect({ socket: paths.socket, region: paths.region });
  const receiving = (async () => {
    const receiver = await ChannelReceiver.open(other, "detached-write");
    const parts: number[] = [];
    while ((await receiver.receive((chunk) => parts.push(...chunk))) !== undefined) {}
    await receiver.close();
    return parts;
  })();
  const sender = await ChannelSender.open(client, "detached-write");
  const buffer = new ArrayBuffer(8);
  const views = [buffer, new Uint8Array(buffer, 1, 4), new DataView(buffer, 2), new Uint16Array(buffer)];
  structuredClone(buffer, { transfer: [buffer] }); // as postMessage(…, [buffer]) does
  // Before: "Buffer is already detached" (a TypeError), or the Uint8Array written as nothing, silently.
  for (const view of views)
    await expectRejection(
      sender.write(view),
      "InvalidArgument",
      /bytes of a detached ArrayBuffer \(transferred/,
    );
  await sender.write(new Uint8Array([5]));
  expect((await sender.finish()).bytes).toBe(1);
  await sender.close();
  expect(await receiving).toEqual([5]);
  await other.close();
});

test("one client cannot be both ends of a channel: refused at the second open, in either order, naming why", async () => {
  const bothEnds =
    /this client is its (sender|receiver) already: each end of a channel needs a client of its own/;
  const sender = await ChannelSender.open(client, "one-client", { chunkBytes: 4096, depth: 2 });
  await expectRejection(ChannelReceiver.open(client, "one-client"), "InvalidArgument", bothEnds);
  await sender.close();
  const receiving = ChannelReceiver.open(client, "one-client-too");
  receiving.catch(() => undefined);
  await Bun.sleep(50); // waiting for a sender by now
  await expectRejection(ChannelSender.open(client, "one-client-too"), "InvalidArgument", bothEnds);
  // The receiver still waits, for a sender of another client.
  const other = await connect({ socket: paths.socket, region: paths.region });
  const sender2 = await ChannelSender.open(other, "one-client-too", { chunkBytes: 4096, depth: 2 });
  const receiver = await receiving;
  await sender2.write(new Uint8Array([9]));
  const finishing = sender2.finish();
  const got: number[] = [];
  while ((await receiver.receive((chunk) => got.push(...chunk))) !== undefined) {}
  expect((await finishing).bytes).toBe(1);
  expect(got).toEqual([9]);
  await Promise.all([receiver.close(), sender2.close()]);
  await other.close();
});

test("a channel end's client, options and callbacks of the wrong type are named, not bare TypeErrors", async () => {
  const other = await connect({ socket: paths.socket, region: paths.region });
  await expectRejection(
    ChannelSender.open(untyped(null), "typed"),
    "InvalidArgument",
    /its client null is not one/,
  );
  await expectRejection(
    ChannelReceiver.open(untyped({}), "typed"),
    "InvalidArgument",
    /is not one connect\(\)/,
  );
  for (const open of [ChannelSender.open, ChannelReceiver.open])
    await expectRejection(
      open(client, "typed", untyped(null)),
      "InvalidArgument",
      /its options null are not an object/,
    );
  const sender = await ChannelSender.open(client, "typed", { chunkBytes: 4096, depth: 2 });
  const receiver = await ChannelReceiver.open(other, "typed");
  await expectRejection(
    sender.send(untyped(5)),
    "InvalidArgument",
    /its argument 5 is not a function \(send\(\) hands it each chunk; write\(\) copies bytes you hold\)$/,
  );
  await sender.write(new Uint8Array([4]));
  sender.flush();
  await expectRejection(
    receiver.receive(untyped("x")),
    "InvalidArgument",
    /its argument x is not a function \(receive\(\) hands it each chunk\)$/,
  );
  expect(await receiver.receive(() => undefined)).toBe(1); // nothing was lost to the refusals
  await Promise.all([sender.close(), receiver.close()]);
  await other.close();
});

// Found by a trial: an option misspelt (as other libraries or the CLI spell it) was dropped without a word,
// as alloc() refuses: connect({ socketPath }) reached the default arbiter, shm_init({ sockett }) likewise,
// ChannelSender's { chunkSize } took 1 MiB chunks, and a receiver's { timeout } waited for ever.
test("an option connect(), shm_init() or a channel end does not take is refused naming it, not ignored", async () => {
  const where = { socket: paths.socket, region: paths.region };
  const notTaken = (key: string) =>
    new RegExp(`its options hold '${key}', which it does not take \\(socket, `);
  await expectRejection(
    connect(untyped({ ...where, socketPath: "/elsewhere.sock" })),
    "InvalidArgument",
    notTaken("socketPath"),
  );
  await expectRejection(
    shm_init(untyped({ ...where, sockett: "/elsewhere.sock" })),
    "InvalidArgument",
    notTaken("sockett"),
  );
  await expectRejection(
    ChannelSender.open(client, "misspelt", untyped({ chunkSize: 65536 })),
    "InvalidArgument",
    /its options hold 'chunkSize', which it does not take \(chunkBytes, depth, /,
  );
  const other = await connect(where);
  await expectRejection(
    // The signal only ends the test's wait if the option is taken for none (a receiver waits for a sender).
    ChannelReceiver.open(other, "misspelt", untyped({ timeout: 100, signal: AbortSignal.timeout(5000) })),
    "InvalidArgument",
    /its options hold 'timeout', which it does not take \(onWaiting, /,
  );
  await other.close();
  const status = await client.status();
  expect(status.sync).toEqual([]);
  expect(status.totals.clients).toBe(1);
});

test("a channel end's signal, onWaiting or keeper of the wrong type is refused at open, not a TypeError at a wait or the end", async () => {
  const other = await connect({ socket: paths.socket, region: paths.region });
  // A sender there already: the receiver need not wait, so nothing it is given was looked at before.
  const sender = await ChannelSender.open(client, "options", { chunkBytes: 4096, depth: 2 });
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ signal: {} }, /its signal \[object Object\] is not an AbortSignal/],
    [{ onWaiting: 5 }, /its onWaiting 5 is not a function/],
    // Before, found only once the whole stream had arrived: the sender was told it could not be kept.
    [{ keeper: {} }, /its keeper \[object Object\] is not an object with keep\(\) and unkeep\(\)/],
    [{ keeper: { keep() {} } }, /its keeper .* is not an object with keep\(\) and unkeep\(\)/],
  ];
  for (const [options, message] of cases)
    await expectRejection(
      ChannelReceiver.open(other, "options", untyped(options)),
      "InvalidArgument",
      message,
    );
  await expectRejection(
    ChannelSender.open(other, "options-too", untyped({ signal: "soon" })),
    "InvalidArgument",
    /its signal soon is not an AbortSignal/,
  );
  // Nothing was claimed by the refusals.
  const receiver = await ChannelReceiver.open(other, "options", { keeper: { keep() {}, unkeep() {} } });
  await sender.write(new Uint8Array(3));
  const finishing = sender.finish();
  while ((await receiver.receive(() => {})) !== undefined) {}
  expect((await finishing).bytes).toBe(3);
  await Promise.all([sender.close(), receiver.close()]);
  await other.close();
});

// Mutation round 29 (src/transfer/end-arguments.ts): checks no case above reached.
test("options that are no object, an onSenderFailed or a keeper's keep() that is no function are refused; null is none", async () => {
  const other = await connect({ socket: paths.socket, region: paths.region });
  for (const open of [ChannelSender.open, ChannelReceiver.open])
    await expectRejection(
      open(other, "options-number", untyped(5)),
      "InvalidArgument",
      /open channel 'options-number' since its options 5 are not an object/,
    );
  // null for each callback and the signal, as for none: the sender waits for no room, the receiver for no one.
  const sender = await ChannelSender.open(client, "options-null", {
    chunkBytes: 4096,
    depth: 2,
    ...untyped({ signal: null, onHeldBack: null, onRoomWait: null }),
  });
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ onSenderFailed: 5 }, /its onSenderFailed 5 is not a function/],
    [{ keeper: { unkeep() {} } }, /its keeper .* is not an object with keep\(\) and unkeep\(\)/],
  ];
  for (const [options, message] of cases)
    await expectRejection(
      ChannelReceiver.open(other, "options-null", untyped(options)),
      "InvalidArgument",
      message,
    );
  const receiver = await ChannelReceiver.open(
    other,
    "options-null",
    untyped({ signal: null, onWaiting: null, onSenderFailed: null, keeper: null }),
  );
  await sender.write(new Uint8Array(2));
  const finishing = sender.finish();
  while ((await receiver.receive(() => {})) !== undefined) {}
  expect((await finishing).bytes).toBe(2);
  await Promise.all([sender.close(), receiver.close()]);
  await other.close();
});

test("a send() filler's return that is no whole byte count within its chunk is refused; a whole chunk is sent", async () => {
  const other = await connect({ socket: paths.socket, region: paths.region });
  const receiving = (async () => {
    const receiver = await ChannelReceiver.open(other, "filled");
    const sizes: number[] = [];
    while ((await receiver.receive((chunk) => sizes.push(chunk.byteLength))) !== undefined) {}
    await receiver.close();
    return sizes;
  })();
  const sender = await ChannelSender.open(client, "filled", { chunkBytes: 4096, depth: 2 });
  for (const returned of [-1, 1.5, "5"])
    await expectRejection(
      sender.send(() => untyped(returned)),
      "InvalidArgument",
      new RegExp(`the filler returned ${returned} for a 4096-byte chunk`),
    );
  expect(await sender.send((chunk) => chunk.byteLength)).toBe(4096);
  expect((await sender.finish()).bytes).toBe(4096);
  await sender.close();
  expect(await receiving).toEqual([4096]);
  await other.close();
});

test("ChannelSender.open() refuses an expectedBytes that is no byte count, not a RangeError at the first chunk", async () => {
  for (const expectedBytes of [1.5, Number.NaN, -1, 2 ** 64, "100"])
    await expectRejection(
      ChannelSender.open(client, "expected", {
        chunkBytes: 4096,
        depth: 2,
        expectedBytes: untyped(expectedBytes),
      }),
      "InvalidArgument",
      /its expectedBytes .* is not a byte count \(a whole number from 0\)/,
    );
  // Nothing was claimed by the refusals: the channel opens, and a known size is told to the receiver.
  const other = await connect({ socket: paths.socket, region: paths.region });
  const sender = await ChannelSender.open(client, "expected", {
    chunkBytes: 4096,
    depth: 2,
    expectedBytes: 5,
  });
  const receiver = await ChannelReceiver.open(other, "expected");
  await sender.write(new Uint8Array(5));
  sender.flush();
  expect(await receiver.receive(() => {})).toBe(5);
  expect(receiver.expectedBytes).toBe(5);
  await Promise.all([sender.close(), receiver.close()]);
  await other.close();
});

test("ChannelSender.open() refuses a minChunkBytes that is no whole number of pages", async () => {
  for (const minChunkBytes of [0, 1000, 4096.5, -4096, Number.NaN, "4096"])
    await expectRejection(
      ChannelSender.open(client, "shrinkable", { minChunkBytes: untyped(minChunkBytes) }),
      "InvalidArgument",
      /its minChunkBytes .* is not a multiple of 4096 bytes from 4096 on/,
    );
  // Nothing was claimed by the refusals: the channel opens with one that is.
  const sender = await ChannelSender.open(client, "shrinkable", { minChunkBytes: 8192 });
  expect(sender.ring.chunkBytes).toBe(1 << 20);
  await sender.close();
});

test("shm_dealloc() of what is not a segment says so", async () => {
  for (const value of [undefined, {}])
    await expectRejection(shm_dealloc(untyped(value)), "InvalidArgument", /is not a segment shm_alloc\(\)/);
});
