/**
 * A sender whose ring its VM's quota (`ivsh host --vm-quota`) has no room for now, because the VM's own
 * earlier transfers still hold their rings, waits for that room as it waits for room in the region
 * (src/transfer/room-wait.ts), up to --timeout, saying what it waits for. It was refused at once ("... of
 * its quota of 64 blocks ...; start the arbiter with a larger --vm-quota") while the other transfer ran: a
 * quota that fits each of them, one at a time. A ring larger than the whole quota is still refused at once,
 * naming the quota and the flag. Host processes are VM 'host', whose quota this is.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, livenessBoundMs } from "./helpers/processes.ts";
import { guest, guestSaying, randomFile, saidOnce, sameBytes } from "./helpers/transfer.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
beforeAll(async () => {
  paths = testPaths("quota-wait");
  // 16 MiB of 64 KiB blocks: the region has room for several rings; the VM's quota, 64 blocks, for one.
  arbiter = await ArbiterProcess.start(paths, { size: "16MiB", extra: ["--vm-quota", "4MiB"] });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/** A ring of two 1 MiB chunks and its header: 33 of the quota's 64 blocks, a shape kept as given. */
const RING = ["--chunk-size", "1MiB", "--depth", "2"];

test("a sender over its VM's quota while the VM's other transfer holds its ring waits, and goes through once that one ends", async () => {
  const firstIn = join(paths.dir, "first.in");
  const secondIn = join(paths.dir, "second.in");
  const [first, second] = [await randomFile(firstIn, 3 << 20), await randomFile(secondIn, 3 << 20)];
  // Holds its ring (33 blocks) until a receiver comes.
  const holder = guestSaying(paths, ["send", firstIn, "--channel", "first", ...RING, "--progress"]);
  let waiter: ReturnType<typeof guestSaying> | undefined;
  try {
    expect(await saidOnce(holder, "waiting for a receiver")).toContain("waiting for a receiver");
    waiter = guestSaying(paths, ["send", secondIn, "--channel", "second", ...RING, "--progress"]);
    // Before: exit 1 at once, "... it needs 33 blocks (2.06 MiB) and VM 'host' already has 33 blocks
    // (2.06 MiB) of its quota of 64 blocks (4.00 MiB) ...; start the arbiter with a larger --vm-quota".
    expect(await saidOnce(waiter, "waiting for room")).toContain(
      "waiting for room in the quota of VM 'host' (--vm-quota) for the ring: it needs 33 blocks (2.06 MiB) and VM 'host' already has 33 blocks (2.06 MiB) of its quota of 64 blocks (4.00 MiB)",
    );
    const firstOut = join(paths.dir, "first.out");
    const firstReceiver = guest(paths, ["recv", "-q", "--channel", "first", "--out", firstOut]);
    expect([await holder.proc.exited, await firstReceiver.exit()]).toEqual([0, 0]);
    const secondOut = join(paths.dir, "second.out");
    const secondReceiver = guest(paths, ["recv", "-q", "--channel", "second", "--out", secondOut]);
    expect([await secondReceiver.exit(), await waiter.proc.exited]).toEqual([0, 0]);
    expect(sameBytes(readFileSync(firstOut), first)).toBe(true);
    expect(sameBytes(readFileSync(secondOut), second)).toBe(true);
  } finally {
    holder.proc.kill("SIGKILL");
    waiter?.proc.kill("SIGKILL");
  }
}, 60_000);

test("the wait for the quota ends at --timeout, saying the room stayed held that long and which flag makes more", async () => {
  const firstIn = join(paths.dir, "timed-first.in");
  await randomFile(firstIn, 3 << 20);
  const holder = guestSaying(paths, ["send", firstIn, "--channel", "timed-first", ...RING, "--progress"]);
  try {
    expect(await saidOnce(holder, "waiting for a receiver")).toContain("waiting for a receiver");
    const waiter = guestSaying(paths, ["send", firstIn, "--channel", "timed", ...RING, "--timeout", "1s"]);
    expect(await waiter.proc.exited).toBe(1);
    expect(waiter.said.text).toContain(
      "of its quota of 64 blocks (4.00 MiB) in segments its clients created, each counted until its last holder, in any VM, frees it, also once its creator has freed its own grant or ended (they stayed held for the 1 s it waited: `ivsh status` lists their holders); pass a smaller --chunk-size or --depth, or start the arbiter with a larger --vm-quota",
    );
  } finally {
    holder.proc.kill("SIGKILL");
    await holder.proc.exited;
  }
}, 60_000);

test("a ring larger than the VM's whole quota is refused at once, naming the quota and the flag", async () => {
  const input = join(paths.dir, "large.in");
  await randomFile(input, 8 << 20);
  // Two 4 MiB chunks: 129 blocks, past the quota's 64 however little the VM holds.
  const sender = guestSaying(paths, [
    "send",
    input,
    "--channel",
    "large",
    "--chunk-size",
    "4MiB",
    "--depth",
    "2",
    "--progress",
  ]);
  const started = performance.now();
  expect(await sender.proc.exited).toBe(1);
  // At once: well inside the 30 s a wait without --timeout would take.
  expect(performance.now() - started).toBeLessThan(livenessBoundMs(5000));
  expect(sender.said.text).not.toContain("waiting for room");
  // Before: "... VM 'host' already has 0 blocks (0 B) of its quota of 64 blocks (4.00 MiB) in segments its
  // clients created, ...; pass ...", no word that freeing them would not do.
  expect(sender.said.text).toContain(
    "of its quota of 64 blocks (4.00 MiB) in segments its clients created, each counted until its last holder, in any VM, frees it, also once its creator has freed its own grant or ended (the ring alone is more than the whole quota: no other transfer's end makes room for it); pass a smaller --chunk-size or --depth, or start the arbiter with a larger --vm-quota",
  );
}, 60_000);
