/**
 * A wake through the mailbox (src/region/mailbox.ts) wakes as many sleepers as it is asked to, and says
 * how many it woke: a mutex's or condvar's release that wakes every sleeper of a word (host-wakes.ts) must
 * not leave all but one asleep until their slice ends. The sleepers are processes of their own, each in
 * FUTEX_WAIT on the same word of one mailbox file.
 */
import { afterAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { WakeMailbox } from "../src/region/mailbox.ts";
import { testPaths } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, eventually, spawnFixture } from "./helpers/processes.ts";

const paths = testPaths("mailbox-wake-count");
afterAll(() => paths.cleanup());

const SYS_FUTEX = 202; // x86_64

/**
 * Whether `pid`'s main thread is in a shared FUTEX_WAIT (op 0): the mailbox's sleep. Bun's own locks use
 * the private ops (128 and up), and its event loop waits in epoll.
 */
function inFutex(pid: number): boolean {
  try {
    const [call, , op] = readFileSync(`/proc/${pid}/syscall`, "utf8").split(" ");
    return call === String(SYS_FUTEX) && op === "0x0";
  } catch {
    return false;
  }
}

test("a wake of up to 3 sleepers of a word wakes the 2 asleep there, and says 2", async () => {
  const slots = 4;
  const index = 5;
  const mailbox = WakeMailbox.open(paths.region, slots);
  if (!mailbox) throw new Error("no wake mailbox in this kernel");
  try {
    const config = { region: paths.region, slots, index, timeoutMs: 120_000 };
    const sleepers = [spawnFixture("mailbox-sleeper", config), spawnFixture("mailbox-sleeper", config)];
    for (const sleeper of sleepers) await sleeper.events.next("loaded");
    await eventually(
      async () => sleepers.every((sleeper) => inFutex(sleeper.proc.pid)),
      EXIT_BOUND_MS,
      "both sleepers in FUTEX_WAIT",
    );
    expect(mailbox.wake(index, 3)).toBe(2);
    for (const sleeper of sleepers) {
      expect((await sleeper.events.next("slept")).result).toBe("woken");
      expect(await sleeper.exit()).toBe(0);
    }
  } finally {
    mailbox.close();
  }
}, 60_000);
