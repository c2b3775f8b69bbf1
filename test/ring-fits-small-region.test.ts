/**
 * Found in trial 30: on the 4 MiB region `ivsh host` suggests for VMs, `echo hello | ivsh guest send -`
 * was refused with the default ring ("it needs 129 blocks of 65536 bytes and the whole region has 126"),
 * and so was a 47.7 MiB file with a file's (4 MiB × 2). A ring of the defaults now halves its chunks until
 * it fits the region; a shape the user chose is still refused when it cannot fit. And one that fits the
 * region but not what another client left free of it is halved at allocation until it does.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, spawnFixture } from "./helpers/processes.ts";
import { guest, randomFile } from "./helpers/transfer.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
beforeAll(async () => {
  paths = testPaths("small-region");
  arbiter = await ArbiterProcess.start(paths, { size: "4MiB" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/**
 * `send` of `args` and a `recv --out OUT --json` on `channel` (of the arbiter at `where`): both exit codes,
 * the summary, stderr.
 */
async function transfer(channel: string, args: string[], stdin?: string, where = paths) {
  const out = join(where.dir, `${channel}.out`);
  const receiver = guest(where, ["recv", "--channel", channel, "--out", out, "--json"]);
  const sender = guest(where, ["send", ...args, "--channel", channel]);
  if (stdin !== undefined) {
    sender.proc.stdin.write(stdin);
    await sender.proc.stdin.end();
  }
  const sent = await sender.exit();
  // A refused sender leaves the receiver waiting: it is not part of what is judged then.
  if (sent !== 0) receiver.proc.kill("SIGINT");
  const received = await receiver.exit();
  await receiver.events.finished;
  return { sent, received, out, summary: receiver.events.text, said: await sender.stderr };
}

/** Both ends exited 0; a sender's stderr is shown only when it did not (its notices are not judged here). */
function wentThrough(run: { sent: number; received: number; said: string }) {
  expect({ sent: run.sent, received: run.received, said: run.sent === 0 ? "" : run.said }).toEqual({
    sent: 0,
    received: 0,
    said: "",
  });
}

/** The receiver's ring, from its --json summary. */
function ringOf(run: { summary: string }) {
  const { chunkBytes, depth } = JSON.parse(run.summary) as { chunkBytes: number; depth: number };
  return { chunkBytes, depth };
}

test("a pipe's default ring fits a 4 MiB region: `echo hello | ivsh guest send -` goes through", async () => {
  const run = await transfer("pipe", ["-"], "hello\n");
  // Before: sent 1, "Failed to open channel 'pipe' with a ring of 8 chunks of 1.00 MiB (8.00 MiB) since …".
  wentThrough(run);
  expect(readFileSync(run.out, "utf8")).toBe("hello\n");
});

test("a 48 MiB file's ring fits a 4 MiB region too, its copy whole", async () => {
  const source = join(paths.dir, "big");
  const bytes = await randomFile(source, 48 << 20);
  const run = await transfer("file", [source]);
  wentThrough(run);
  expect(Bun.hash.xxHash3(readFileSync(run.out))).toBe(Bun.hash.xxHash3(bytes));
  // Halved until it fits the region's 63 blocks (4 MiB × 2 and 2 MiB × 2 and their header do not): 1 MiB × 2.
  expect(ringOf(run)).toEqual({ chunkBytes: 1 << 20, depth: 2 });
});

test("a ring shape the user chose is kept, and refused when it cannot fit, naming what to pass", async () => {
  const run = await transfer("chosen", ["-", "--chunk-size", "1MiB", "--depth", "8"], "hello\n");
  expect(run.sent).toBe(1);
  expect(run.said).toContain("pass a smaller --chunk-size or --depth");
});

test("a default ring halves again until it fits what a busy region has left: a second transfer is not refused", async () => {
  // 48 of the region's 63 blocks held elsewhere (as by a transfer on another channel): 15 left, where the
  // region-fitted 256 KiB × 8 ring needs 33.
  const holder = spawnFixture(
    "holder",
    clientConfig(paths, { segment: "hog", mutex: "hog", bytes: 3 << 20 }),
  );
  try {
    expect((await holder.events.next("holding")).blocks).toBe(48);
    const run = await transfer("busy", ["-", "--progress"], "hello\n");
    // Before: sent 1, refused NoSpace with the region-fitted ring of 8 chunks of 256 KiB.
    wentThrough(run);
    expect(readFileSync(run.out, "utf8")).toBe("hello\n");
    // 128 KiB × 8 and its header need 17 blocks: 64 KiB × 8 (9) is the largest that fits.
    expect(ringOf(run)).toEqual({ chunkBytes: 64 << 10, depth: 8 });
    // Told as it opens (a large input may take long through a small ring), and in the summary.
    expect(run.said).toContain(
      "send -: a ring of 8 chunks of 64.0 KiB, not 256.0 KiB: the region had no room for more, so this transfer may be slower (starting the arbiter with a larger --size makes room)",
    );
    expect(run.said).toContain("of up to 64.0 KiB (not 256.0 KiB: the region had no room for more)");
    // The rest held too: even 4 KiB chunks find no room, and a ring of one block has no smaller form to pass.
    const rest = spawnFixture(
      "holder",
      clientConfig(paths, { segment: "rest", mutex: "rest", bytes: 15 << 16 }),
    );
    try {
      expect((await rest.events.next("holding")).blocks).toBe(15);
      // Waited for (test/ring-room-wait.test.ts), up to --timeout.
      const refused = await transfer("full", ["-", "--timeout", "1s"], "hello\n");
      expect(refused.sent).toBe(1);
      expect(refused.said).toContain("ring of 8 chunks of 4.00 KiB");
      expect(refused.said).toContain(
        "only 0 of 63 blocks are free (they stayed held for the 1 s it waited: `ivsh status` lists their holders); start the arbiter with a larger --size",
      );
      expect(refused.said).not.toContain("--chunk-size");
    } finally {
      rest.proc.kill("SIGKILL");
      await rest.exit();
    }
  } finally {
    holder.proc.kill("SIGKILL");
    await holder.exit();
  }
});

test("a default ring halves until a client's quota holds it too", async () => {
  const quotaPaths = testPaths("small-quota");
  const quota = await ArbiterProcess.start(quotaPaths, { extra: ["--client-quota", "1MiB"] });
  try {
    const run = await transfer("quota", ["-", "--progress"], "hello\n", quotaPaths);
    // Before: sent 1, "… would pass its quota …; pass a smaller --chunk-size or --depth …".
    wentThrough(run);
    expect(readFileSync(run.out, "utf8")).toBe("hello\n");
    // 1 MiB × 8 and its header need 129 of the region's 64 KiB blocks, the quota holds 16: 64 KiB × 8 (9).
    expect(ringOf(run)).toEqual({ chunkBytes: 64 << 10, depth: 8 });
    // The quota refused, not the region: a larger --size makes no room. Before: "the region (or a quota)
    // had no room for more, so this transfer may be slower (a larger --size makes room)", and the
    // summary "(not 1.00 MiB: the region had no room for more)".
    expect(run.said).toContain(
      "send -: a ring of 8 chunks of 64.0 KiB, not 1.00 MiB: the client's quota had no room for more, so this transfer may be slower (starting the arbiter with a larger --client-quota makes room)",
    );
    expect(run.said).toContain("of up to 64.0 KiB (not 1.00 MiB: the client's quota had no room for more)");
  } finally {
    await quota.stop();
    quotaPaths.cleanup();
  }
});

test("a default ring refused at 4 KiB chunks names a shape that fits: --depth alone would bring back 1 MiB chunks", async () => {
  // 4 KiB blocks, a quota of 4: the default ring halves to 8 chunks of 4 KiB (9 blocks) and is refused.
  const quotaPaths = testPaths("page-quota");
  const extra = ["--client-quota", "16KiB"];
  const quota = await ArbiterProcess.start(quotaPaths, { size: "1MiB", blockSize: "4KiB", extra });
  try {
    const refused = await transfer("page", ["-"], "hello\n", quotaPaths);
    expect(refused.sent).toBe(1);
    expect(refused.said).toContain("ring of 8 chunks of 4.00 KiB");
    // Before: "pass a smaller --depth": `--depth 2` alone is a ring of 2 chunks of 1 MiB, refused again.
    const depthOnly = await transfer("depth-only", ["-", "--depth", "2"], "hello\n", quotaPaths);
    expect(depthOnly.said).toContain("ring of 2 chunks of 1.00 MiB");
    expect(refused.said).toContain("pass a smaller --depth with --chunk-size 4KiB");
    // What it names goes through.
    const run = await transfer(
      "advised",
      ["-", "--depth", "2", "--chunk-size", "4KiB"],
      "hello\n",
      quotaPaths,
    );
    expect({ sent: run.sent, received: run.received }).toEqual({ sent: 0, received: 0 });
    expect(readFileSync(run.out, "utf8")).toBe("hello\n");
  } finally {
    await quota.stop();
    quotaPaths.cleanup();
  }
});
