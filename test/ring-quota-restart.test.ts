/**
 * A sender waiting for room in its VM's quota (src/transfer/room-wait.ts) while the arbiter is restarted
 * with another --vm-quota judges its ring against the quota the arbiter has now. It kept the quota it
 * had read as the wait began: restarted with a quota that fits both rings (or with none), the sender
 * waited on for the other transfer's end, and was refused at --timeout naming the old quota ("... of its
 * quota of 64 blocks ...", the arbiter's now 128).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { type ArbiterFlags, ArbiterProcess, livenessBoundMs } from "./helpers/processes.ts";
import { guest, guestSaying, randomFile, saidOnce, sameBytes } from "./helpers/transfer.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
/** Kept, so the restart can change the quota. */
const flags: ArbiterFlags = { size: "16MiB", extra: ["--vm-quota", "4MiB"] };
beforeAll(async () => {
  paths = testPaths("quota-restart");
  arbiter = await ArbiterProcess.start(paths, flags);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/** A ring of two 1 MiB chunks and its header: 33 of the quota's 64 blocks, a shape kept as given. */
const RING = ["--chunk-size", "1MiB", "--depth", "2"];

test("a sender waiting for its VM's quota gets its ring once the arbiter restarts with a quota that fits it, the other ring still held", async () => {
  const firstIn = join(paths.dir, "first.in");
  const secondIn = join(paths.dir, "second.in");
  const [first, second] = [await randomFile(firstIn, 3 << 20), await randomFile(secondIn, 3 << 20)];
  const holder = guestSaying(paths, ["send", firstIn, "--channel", "first", ...RING, "--progress"]);
  let waiter: ReturnType<typeof guestSaying> | undefined;
  try {
    expect(await saidOnce(holder, "waiting for a receiver")).toContain("waiting for a receiver");
    // Bounded, so that before the fix the test fails on its refusal, not on its own time.
    const timeout = ["--timeout", "20s"];
    waiter = guestSaying(paths, ["send", secondIn, "--channel", "second", ...RING, "--progress", ...timeout]);
    expect(await saidOnce(waiter, "waiting for room")).toContain(
      "waiting for room in the quota of VM 'host'",
    );
    await arbiter.kill9();
    flags.extra = ["--vm-quota", "8MiB"]; // 128 blocks: room for both rings
    await arbiter.restart();
    // Before: "... VM 'host' already has 33 blocks (2.06 MiB) of its quota of 64 blocks (4.00 MiB) ... (they
    // stayed held for the 20 s it waited ...)", exit 1 at --timeout, though the quota was 128 blocks by then.
    expect(await saidOnce(waiter, "waiting for a receiver")).toContain(
      "waiting for a receiver on channel 'second'",
    );
    const [firstOut, secondOut] = [join(paths.dir, "first.out"), join(paths.dir, "second.out")];
    const receivers = [
      guest(paths, ["recv", "-q", "--channel", "first", "--out", firstOut, ...timeout]),
      guest(paths, ["recv", "-q", "--channel", "second", "--out", secondOut, ...timeout]),
    ];
    const codes = [await holder.proc.exited, await waiter.proc.exited];
    expect([...codes, ...(await Promise.all(receivers.map((receiver) => receiver.exit())))]).toEqual([
      0, 0, 0, 0,
    ]);
    expect(sameBytes(readFileSync(firstOut), first)).toBe(true);
    expect(sameBytes(readFileSync(secondOut), second)).toBe(true);
  } finally {
    holder.proc.kill("SIGKILL");
    waiter?.proc.kill("SIGKILL");
  }
}, 60_000);

test("a sender waiting for its VM's quota is refused at once, naming the quota now, when the arbiter restarts with one its ring can never fit", async () => {
  await arbiter.kill9();
  flags.extra = ["--vm-quota", "4MiB"];
  await arbiter.restart();
  const firstIn = join(paths.dir, "shrunk.in");
  await randomFile(firstIn, 3 << 20);
  const holder = guestSaying(paths, ["send", firstIn, "--channel", "shrunk-first", ...RING, "--progress"]);
  let waiter: ReturnType<typeof guestSaying> | undefined;
  try {
    expect(await saidOnce(holder, "waiting for a receiver")).toContain("waiting for a receiver");
    waiter = guestSaying(paths, [
      "send",
      firstIn,
      "--channel",
      "shrunk",
      ...RING,
      "--progress",
      "--timeout",
      "20s",
    ]);
    expect(await saidOnce(waiter, "waiting for room")).toContain(
      "waiting for room in the quota of VM 'host'",
    );
    await arbiter.kill9();
    flags.extra = ["--vm-quota", "1MiB"]; // 16 blocks: less than the ring's 33
    await arbiter.restart();
    const started = performance.now();
    expect(await waiter.proc.exited).toBe(1);
    // Before: at --timeout, "... of its quota of 64 blocks (4.00 MiB) ... (they stayed held for the 20 s it
    // waited ...)": the quota it had read as its wait began, and a wait no end of a transfer could end.
    expect(waiter.said.text).toContain(
      "of its quota of 16 blocks (1.00 MiB) in segments its clients created, each counted until its last holder, in any VM, frees it, also once its creator has freed its own grant or ended (the ring alone is more than the whole quota: no other transfer's end makes room for it)",
    );
    expect(performance.now() - started).toBeLessThan(livenessBoundMs(5000));
  } finally {
    holder.proc.kill("SIGKILL");
    waiter?.proc.kill("SIGKILL");
  }
}, 60_000);
