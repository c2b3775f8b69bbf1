/**
 * Found in session 33: twelve `ivsh guest send` started at once on a 16 MiB region had two refused "only 0
 * of 254 blocks are free; start the arbiter with a larger --size" while the other ten ran, a size that
 * fits each of them. A ring the region could hold, whose room other clients hold now, is waited for: up
 * to --timeout, or 30 s without one; a ring the empty region could not hold is refused at once, as before.
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { ChannelSender } from "../src/transfer/sender.ts";
import { expectRejection } from "./helpers/errors.ts";
import { FULL_REGION_SIZE, holdEveryBlock } from "./helpers/full-region.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import {
  ArbiterProcess,
  clientConfig,
  eventually,
  livenessBoundMs,
  spawnFixture,
} from "./helpers/processes.ts";
import { guest, guestSaying, saidOnce } from "./helpers/transfer.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let input: string;
// An arbiter each: a killed holder's blocks go back only as its session ends.
beforeEach(async () => {
  paths = testPaths("room-wait");
  // 4 MiB: 63 data blocks of 64 KiB.
  arbiter = await ArbiterProcess.start(paths, { size: FULL_REGION_SIZE });
  input = join(paths.dir, "input");
  writeFileSync(input, "hello\n");
});
afterEach(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("a sender that finds the region full waits for room, and goes through once the holder lets go", async () => {
  const holder = await holdEveryBlock(paths);
  const out = join(paths.dir, "waited.out");
  const receiver = guest(paths, ["recv", "-q", "--channel", "waited", "--out", out, "--timeout", "60s"]);
  const sender = guestSaying(paths, ["send", input, "--channel", "waited", "--progress"]);
  try {
    // Before: exit 1 at once, "… since it needs 1 block and only 0 of 63 blocks are free; start the
    // arbiter with a larger --size".
    expect(await saidOnce(sender, "waiting for room")).toContain(
      "waiting for room in the region for the ring: it needs 1 block and only 0 of 63 blocks are free...",
    );
  } finally {
    holder.proc.kill("SIGKILL");
    await holder.exit();
  }
  // The holder's segment goes back at its session's end: within its lease, well inside the 30 s wait.
  expect(await sender.proc.exited).toBe(0);
  expect(await receiver.exit()).toBe(0);
  expect(readFileSync(out, "utf8")).toBe("hello\n");
});

// Off a terminal without --progress the wait was silent for its whole 30 s (or --timeout), then failed.
test("off a terminal without --progress, a wait for room says so in one line as it begins, not one a round; -q says nothing", async () => {
  const holder = await holdEveryBlock(paths);
  try {
    const sender = guestSaying(paths, ["send", input, "--channel", "told", "--timeout", "3s"]);
    const quiet = guestSaying(paths, ["send", input, "--channel", "told-q", "--timeout", "3s", "-q"]);
    expect([await sender.proc.exited, await quiet.proc.exited]).toEqual([1, 1]);
    const line = `[ivsh] ℹ send ${input}: waiting up to 3 s for room in the region for the ring: it needs 1 block and only 0 of 63 blocks are free (\`ivsh status\` lists their holders)\n`;
    // Before: only the refusal, 3 s later.
    expect(sender.said.text).toContain(line);
    expect(sender.said.text.split(line)).toHaveLength(2);
    expect(sender.said.text).not.toContain("\x1b");
    expect(quiet.said.text).not.toContain("waiting");
  } finally {
    holder.proc.kill("SIGKILL");
    await holder.exit();
  }
});

test("with --timeout the wait ends there, and the refusal says the room stayed held that long", async () => {
  const holder = await holdEveryBlock(paths);
  try {
    const sender = guestSaying(paths, ["send", input, "--channel", "timed", "--timeout", "1s"]);
    expect(await sender.proc.exited).toBe(1);
    // Before: "only 0 of 63 blocks are free; start …", with no word of a wait.
    expect(sender.said.text).toContain(
      "only 0 of 63 blocks are free (they stayed held for the 1 s it waited: `ivsh status` lists their holders); start the arbiter with a larger --size",
    );
  } finally {
    holder.proc.kill("SIGKILL");
    await holder.exit();
  }
});

test("a ring the empty region could not hold is refused at once, with no wait", async () => {
  const holder = await holdEveryBlock(paths);
  // 16 MiB: a ring of 4 MiB chunks fitted to it has 5 (20 MiB); one fitted to "hello" would fit.
  const large = join(paths.dir, "large");
  writeFileSync(large, new Uint8Array(16 << 20));
  const sender = guestSaying(paths, [
    "send",
    large,
    "--channel",
    "huge",
    "--chunk-size",
    "4MiB",
    "--progress",
  ]);
  try {
    expect(await sender.proc.exited).toBe(1);
  } finally {
    holder.proc.kill("SIGKILL");
    await holder.exit();
  }
  expect(sender.said.text).toContain("pass a smaller --chunk-size or --depth");
  expect(sender.said.text).not.toContain("waited");
  expect(sender.said.text).not.toContain("waiting for room");
});

test("the library waits only when asked (roomWaitMs), and checks what it is given", async () => {
  const holder = await holdEveryBlock(paths);
  const client = await connect({ socket: paths.socket, region: paths.region });
  try {
    const shape = { chunkBytes: 4096, depth: 2 };
    await expectRejection(
      ChannelSender.open(client, "lib", shape),
      "NoSpace",
      /only 0 of 63 blocks are free;/,
    );
    const said: string[] = [];
    const onRoomWait = (reason: string) => said.push(reason);
    await expectRejection(
      ChannelSender.open(client, "lib", { ...shape, roomWaitMs: 300, onRoomWait }),
      "NoSpace",
      /they stayed held for the 300 ms it waited/,
    );
    expect(said).toEqual(["it needs 1 block and only 0 of 63 blocks are free"]);
    // 0 is a wait of none, as one left out (mutation round 29: a `> 0` check refused it).
    await expectRejection(
      ChannelSender.open(client, "lib", { ...shape, roomWaitMs: 0, onRoomWait }),
      "NoSpace",
      /only 0 of 63 blocks are free;/,
    );
    // A ring of all 63 blocks (4 KiB of header and two chunks of 503 pages) fits the empty region: waited for.
    const whole = { chunkBytes: 503 * 4096, depth: 2, roomWaitMs: 300, onRoomWait };
    await expectRejection(
      ChannelSender.open(client, "lib", whole),
      "NoSpace",
      /they stayed held for the 300 ms it waited/,
    );
    expect(said).toEqual([
      "it needs 1 block and only 0 of 63 blocks are free",
      "it needs 63 blocks and only 0 of 63 blocks are free",
    ]);
    for (const roomWaitMs of [-1, Number.NaN, "5s", true])
      await expectRejection(
        ChannelSender.open(client, "lib", { ...shape, roomWaitMs: roomWaitMs as number }),
        "InvalidArgument",
        /its roomWaitMs .* is not a number of milliseconds from 0/,
      );
    await expectRejection(
      ChannelSender.open(client, "lib", { ...shape, onRoomWait: 5 as unknown as () => void }),
      "InvalidArgument",
      /its onRoomWait 5 is not a function/,
    );
  } finally {
    await client.close();
    holder.proc.kill("SIGKILL");
    await holder.exit();
  }
});

test("a library caller that holds the room itself is not told other clients held it", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  try {
    const own = await client.alloc(63 << 16, { name: "own" });
    await expectRejection(
      ChannelSender.open(client, "self", { chunkBytes: 4096, depth: 2, roomWaitMs: 200 }),
      "NoSpace",
      /only 0 of 63 blocks are free \(they stayed held for the 200 ms it waited: `ivsh status` lists their holders\)/,
    );
    await own.free();
  } finally {
    await client.close();
  }
});

// Mutation round 29: a wait that went on while exactly as many blocks were free as the smallest form needs,
// or that asked again in the smallest form when more were free, passed every case above.
test("a wait ends once as many blocks are free as the smallest form needs, and asks in the largest form they hold", async () => {
  const holders = await Promise.all(
    [60, 1, 2].map(async (blocks, index) => {
      const holder = spawnFixture(
        "holder",
        clientConfig(paths, { segment: `part-${index}`, mutex: `part-${index}`, bytes: blocks << 16 }),
      );
      expect((await holder.events.next("holding")).blocks).toBe(blocks);
      return holder;
    }),
  );
  const client = await connect({ socket: paths.socket, region: paths.region });
  try {
    // 64 KiB chunks down to 4 KiB: 3 blocks, 2 (32 KiB), 1 (16 KiB and less).
    const shape = { chunkBytes: 65536, depth: 2, minChunkBytes: 4096, roomWaitMs: 20_000 };
    const opened = async (name: string, holder: (typeof holders)[number]) => {
      let waiting = () => {};
      const began = new Promise<void>((resolve) => {
        waiting = resolve;
      });
      const opening = ChannelSender.open(client, name, { ...shape, onRoomWait: () => waiting() });
      opening.catch(() => undefined);
      await began;
      holder.proc.kill("SIGKILL");
      await holder.exit();
      return (await opening).ring.chunkBytes;
    };
    // 1 block free, as many as the smallest form needs. Before (a `>` there): NoSpace after the 20 s.
    expect(await opened("exact", holders[1]!)).toBe(16384);
    // 2 free: the ring of 32 KiB chunks, not the smallest form that was refused.
    expect(await opened("larger", holders[2]!)).toBe(32768);
  } finally {
    await client.close();
    for (const holder of holders) holder.proc.kill("SIGKILL");
    await Promise.all(holders.map((holder) => holder.exit()));
  }
}, 60_000);

// Mutation round 29: a wait that began again at each refusal after blocks came free told onRoomWait again,
// and never ended while they stayed free but apart.
test("blocks free but not side by side: one wait, told once, that ends at its limit", async () => {
  // Taken in turn: the 1-block segments side by side, the middle one kept when the outer two go back.
  const holders: ReturnType<typeof spawnFixture>[] = [];
  for (const [index, blocks] of [1, 1, 1, 60].entries()) {
    const holder = spawnFixture(
      "holder",
      clientConfig(paths, { segment: `apart-${index}`, mutex: `apart-${index}`, bytes: blocks << 16 }),
    );
    holders.push(holder);
    expect((await holder.events.next("holding")).blocks).toBe(blocks);
  }
  const client = await connect({ socket: paths.socket, region: paths.region });
  try {
    for (const holder of [holders[0]!, holders[2]!]) {
      holder.proc.kill("SIGKILL");
      await holder.exit();
    }
    await eventually(
      async () => (await client.status(0)).blocks.free === 2,
      livenessBoundMs(5000),
      "the two blocks back",
    );
    const said: string[] = [];
    // Two chunks of 32 KiB and the header: 2 blocks, in one run.
    const shape = {
      chunkBytes: 32768,
      depth: 2,
      roomWaitMs: 1500,
      onRoomWait: (why: string) => said.push(why),
    };
    await expectRejection(ChannelSender.open(client, "apart", shape), "NoSpace", /for the 1\.5 s it waited/);
    expect(said).toHaveLength(1);
  } finally {
    await client.close();
    for (const holder of holders) holder.proc.kill("SIGKILL");
    await Promise.all(holders.map((holder) => holder.exit()));
  }
}, 60_000);

test("a receiver whose sender waits for room past its --timeout says the sender is there, waiting", async () => {
  const holder = await holdEveryBlock(paths);
  const sender = guestSaying(paths, [
    "send",
    input,
    "--channel",
    "pending",
    "--progress",
    "--timeout",
    "30s",
  ]);
  try {
    expect(await saidOnce(sender, "waiting for room")).toContain("waiting for room");
    const receiver = guestSaying(paths, ["recv", "--channel", "pending", "--out", "-", "--timeout", "1s"]);
    expect(await receiver.proc.exited).toBe(1);
    // Before: "no sender showed up within 1 s (--timeout)", with the sender there, waiting for room.
    expect(receiver.said.text).toMatch(
      /no sender started a transfer within 1 s \(--timeout\): a sender \(client \d+\) holds the channel but set up no ring in that time/,
    );
  } finally {
    sender.proc.kill("SIGINT");
    await sender.proc.exited;
    holder.proc.kill("SIGKILL");
    await holder.exit();
  }
});

test("a sender stopped past its lease while it waits for room starts over in a new session, and goes through", async () => {
  // A lease of 1 s, for a stop past it within the test's time.
  await arbiter.stop();
  paths.cleanup();
  paths = testPaths("room-wait-stop");
  arbiter = await ArbiterProcess.start(paths, { size: "4MiB", lease: "1s" });
  input = join(paths.dir, "input");
  writeFileSync(input, "hello\n");
  const holder = await holdEveryBlock(paths);
  const out = join(paths.dir, "stopped.out");
  const receiver = guest(paths, ["recv", "-q", "--channel", "stopped", "--out", out, "--timeout", "60s"]);
  const sender = guestSaying(paths, [
    "send",
    input,
    "--channel",
    "stopped",
    "--progress",
    "--timeout",
    "60s",
  ]);
  try {
    expect(await saidOnce(sender, "waiting for room")).toContain("waiting for room");
    sender.proc.kill("SIGSTOP");
    await Bun.sleep(3000); // three leases: the arbiter has let go of its session, and of the channel
    sender.proc.kill("SIGCONT");
    await Bun.sleep(1500); // it finds its session gone while the region is still full
  } finally {
    sender.proc.kill("SIGCONT");
    holder.proc.kill("SIGKILL");
    await holder.exit();
  }
  // Before: exit 1, "Failed to keep client 3's session since no heartbeat arrived for 1000 ms (lease expired)".
  expect(await sender.proc.exited).toBe(0);
  expect(sender.said.text).not.toContain("lease expired");
  expect(await receiver.exit()).toBe(0);
  expect(readFileSync(out, "utf8")).toBe("hello\n");
});

// Found by review-whole33: each round of the wait asked again from the ring's largest form, and the arbiter
// logged each such ask (as large as its last refusal: news to it) at info, ~34 lines for a 30 s wait.
test("a wait for room is one refusal at info in the arbiter's log, not one a round", async () => {
  await arbiter.stop();
  arbiter = await ArbiterProcess.start(paths, { size: "4MiB", extra: ["-v"] });
  const holder = await holdEveryBlock(paths);
  try {
    const sender = guestSaying(paths, ["send", "-", "--channel", "logged", "--timeout", "4s"]);
    expect(await sender.proc.exited).toBe(1);
  } finally {
    holder.proc.kill("SIGKILL");
    await holder.exit();
  }
  await arbiter.stop();
  const refusals = (await arbiter.spawned.stderr)
    .split("\n")
    .filter((line) => line.includes("ℹ client #") && line.includes("channel:logged:"));
  // Before: 10 lines (one a round of pauses 50 ms … 1 s in 4 s).
  expect(refusals).toHaveLength(1);
});
