/**
 * Two receivers on one --out. An empty FILE.partial nobody holds is taken over (what a receiver killed
 * outright leaves), and a receiver's own is exactly that between its create and its flock: a second
 * receiver that looks then unlinks it and makes its own. The first must find the name no longer its file
 * and give up, not receive into an unlinked file and then rename the second's copy to FILE. strace stops
 * the first in that window (SIGSTOP, injected as its open of FILE.partial returns: it runs nothing more
 * until this test continues it), so the order is certain, not a race the test hopes to win.
 */
import { describe, expect } from "bun:test";
import { existsSync, lstatSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXIT_BOUND_MS, eventually, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { held, stoppedAfter } from "./helpers/stopped-recv.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";
import { guest, randomFile, sameBytes } from "./helpers/transfer.ts";

const suite = sharedArbiter("recv-partial-race");

testUnless(
  straceUnusable(),
  "a receiver whose new FILE.partial another took over before its flock gives up, and the other receives",
  async () => {
    const output = join(suite.dir, "raced.out");
    const partial = `${output}.partial`;
    const first = stoppedAfter("openat", "raced-first", output, { paths: suite.paths });
    try {
      await eventually(async () => existsSync(partial), 20_000, "the first receiver creating FILE.partial");
      const created = lstatSync(partial).ino;
      const second = guest(suite.paths, ["recv", "-q", "--channel", "raced-second", "--out", output]);
      // Its own file, held: not the first's, which it holds only while it takes it over.
      const taken = async () =>
        lstatSync(partial, { throwIfNoEntry: false })?.ino !== created && held(partial);
      await eventually(taken, 20_000, "the second receiver's take-over");
      first.resume();
      // Before: it went on waiting for its sender (until --timeout), its FILE.partial gone.
      expect(await exitOrKill(first.proc, EXIT_BOUND_MS)).toBe(1);
      expect(await first.stderr).toContain(`another receiver is writing ${partial} now`);
      const input = join(suite.dir, "raced.in");
      const data = await randomFile(input, 100_000);
      const sender = guest(suite.paths, ["send", "-q", input, "--channel", "raced-second"]);
      expect([await second.exit(), await sender.exit()]).toEqual([0, 0]);
      expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
    } finally {
      first.kill();
    }
  },
  60_000,
);

// A verified copy of an empty stream is an empty FILE.partial: closed (its lock let go) before its rename,
// it looked left by a killed receiver, and a second receiver took it over, whose new copy the first then
// renamed to FILE as its own. The lock is now held until the rename: the second finds FILE, and refuses.
testUnless(
  straceUnusable(),
  "an empty stream's verified copy is held until it has its name: a second receiver cannot take it over",
  async () => {
    const output = join(suite.dir, "empty.out");
    const partial = `${output}.partial`;
    const first = stoppedAfter("close", "empty-first", output, { paths: suite.paths });
    try {
      const input = join(suite.dir, "empty.in");
      writeFileSync(input, "");
      const sender = guest(suite.paths, ["send", "-q", input, "--channel", "empty-first"]);
      // Stopped once its copy is closed (before: with FILE.partial still named), or done.
      await eventually(
        async () => first.stopped() || first.proc.exitCode !== null,
        20_000,
        "the first receiver's close",
      );
      const second = guest(suite.paths, [
        "recv",
        "-q",
        "--channel",
        "empty-second",
        "--out",
        output,
        "--timeout",
        "10s",
      ]);
      // The first holds nothing now (stopped after its close, or ended): a held FILE.partial is the second's.
      await eventually(
        async () => second.proc.exitCode !== null || held(partial),
        20_000,
        "the second receiver's refusal or take-over",
      );
      if (first.stopped()) first.resume();
      expect([await exitOrKill(first.proc, EXIT_BOUND_MS), await sender.exit()]).toEqual([0, 0]);
      // Before: it took the first's verified copy over and waited for its own sender until --timeout.
      expect(await second.exit()).toBe(1);
      expect(await second.stderr).toContain("the file already exists");
      expect(readFileSync(output, "utf8")).toBe("");
      expect(existsSync(partial)).toBe(false);
    } finally {
      first.kill();
    }
  },
  60_000,
);

// A receiver that gives up (Ctrl-C, its --timeout) before any byte arrived removes its empty FILE.partial.
// It let its lock go first: that empty file then looked left by a killed receiver, a second receiver took
// it over (unlinked it, made its own), and the first's removal, by name, removed the second's, which then
// received its whole stream and failed to keep it. It is now removed while still held, and only if it is
// still the first's.
testUnless(
  straceUnusable(),
  "a receiver that gives up removes its own empty FILE.partial, not the one a second receiver made since",
  async () => {
    const output = join(suite.dir, "given-up.out");
    const partial = `${output}.partial`;
    const first = stoppedAfter("close", "given-up-first", output, { paths: suite.paths });
    try {
      await eventually(async () => held(partial), 20_000, "the first receiver locking FILE.partial");
      first.interrupt();
      // Stopped as its close of FILE.partial returns (before: with the file still named), or done.
      await eventually(
        async () => first.stopped() || first.proc.exitCode !== null,
        20_000,
        "the first receiver's close",
      );
      const second = guest(suite.paths, ["recv", "-q", "--channel", "given-up-second", "--out", output]);
      // Before: taken over (the first held nothing). Now: the first removed its own, and the second made
      // one. Either way a held FILE.partial is the second's: the first has closed its own (its inode
      // number may be the second file's, reused).
      await eventually(async () => held(partial), 20_000, "the second receiver's FILE.partial");
      if (first.stopped()) first.resume();
      expect(await exitOrKill(first.proc, EXIT_BOUND_MS)).not.toBe(0);
      const input = join(suite.dir, "given-up.in");
      const data = await randomFile(input, 100_000);
      const sender = guest(suite.paths, ["send", "-q", input, "--channel", "given-up-second"]);
      // Before: 1 and 1, 'given-up.out.partial was removed or replaced during the transfer'.
      expect([await second.exit(), await sender.exit()]).toEqual([0, 0]);
      expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
    } finally {
      first.kill();
    }
  },
  60_000,
);

// A receiver frozen (SIGSTOP, a VM paused) past its lease between its keep (FILE is its copy) and its
// verdict gives the keeping up when it wakes (`unkeep`: FILE back to FILE.partial, the replaced file back
// to FILE). A second receiver with --force had meanwhile replaced FILE with its own verified copy and
// reported success: the first's undo moved that copy to FILE.partial and put the old file back at FILE.
// An undo now touches FILE only while it is still the copy this receiver kept.
// Stopped at its rename (a swap with FILE: renameat2), its keep finds FILE not its copy (and fails);
// stopped at the last look of its keep (the 14th statx of FILE, on the copy's descriptor: its identity
// noted once FILE is checked to be it; the copy stays open until the verdict), its undo does.
describe("with a 2 s lease", () => {
  const short = sharedArbiter("recv-unkeep-race", { lease: "2s" });
  for (const [syscall, at, when] of [
    ["rename,renameat2", "keep", 1],
    ["statx", "verdict", 14],
  ] as const)
    testUnless(
      straceUnusable(),
      `a receiver frozen past its lease before its ${at} does not undo another receiver's copy at FILE`,
      async () => {
        const output = join(short.dir, `kept-${at}.out`);
        writeFileSync(output, "the old contents");
        const on = syscall === "statx" ? output : `${output}.partial`;
        const injects = syscall.split(",").map((call) => `${call}:signal=SIGSTOP:when=${when}`);
        const options = { extra: ["--force"], paths: short.paths, on, injects };
        const first = stoppedAfter(syscall, "kept-first", output, options);
        try {
          const inputs = [join(short.dir, "first.in"), join(short.dir, "second.in")];
          const data = [await randomFile(inputs[0]!, 10_000), await randomFile(inputs[1]!, 20_000)];
          const firstSender = guest(short.paths, ["send", "-q", inputs[0]!, "--channel", "kept-first"]);
          // Stopped with FILE its copy, the verdict not told.
          await first.untilStopped(`the first receiver's ${syscall}`);
          const second = guest(short.paths, [
            "recv",
            "-q",
            "--channel",
            "kept-second",
            "--out",
            output,
            "--force",
          ]);
          const sender = guest(short.paths, ["send", "-q", inputs[1]!, "--channel", "kept-second"]);
          expect([await second.exit(), await sender.exit()]).toEqual([0, 0]);
          // Its sender gives up once the arbiter expired the frozen receiver's session.
          expect(await firstSender.exit()).toBe(1);
          first.resume();
          expect(await exitOrKill(first.proc, EXIT_BOUND_MS)).toBe(1);
          // Before: FILE was the old contents again, the second's verified copy moved to FILE.partial.
          expect(sameBytes(new Uint8Array(readFileSync(output)), data[1]!)).toBe(true);
          expect(existsSync(`${output}.partial`)).toBe(false);
        } finally {
          first.kill();
        }
      },
      60_000,
    );

  // Its undo found FILE its copy, then linked FILE back to FILE.partial by name: a second receiver's
  // verified copy, put at FILE in between (and reported), went to FILE.partial, and the old file back to
  // FILE. Stopped after its keep (past its lease: the 14th statx of FILE), then after its undo's look at
  // FILE (the 15th), before the link.
  testUnless(
    straceUnusable(),
    "a receiver undoing its keep takes back only its own copy, not one put at FILE after it looked",
    async () => {
      const output = join(short.dir, "relinked.out");
      writeFileSync(output, "the old contents");
      const options = {
        extra: ["--force"],
        paths: short.paths,
        on: output,
        injects: ["statx:signal=SIGSTOP:when=14..15"],
      };
      const first = stoppedAfter("statx", "relinked-first", output, options);
      try {
        const inputs = [join(short.dir, "relinked-1.in"), join(short.dir, "relinked-2.in")];
        const data = [await randomFile(inputs[0]!, 10_000), await randomFile(inputs[1]!, 20_000)];
        const firstSender = guest(short.paths, ["send", "-q", inputs[0]!, "--channel", "relinked-first"]);
        await first.untilStopped("the first receiver's keep");
        // Its sender gives up once the arbiter expired the frozen receiver's session.
        expect(await firstSender.exit()).toBe(1);
        first.resume();
        await first.untilStopped("the first receiver's undo", 2);
        const recv = ["recv", "-q", "--channel", "relinked-second", "--out", output, "--force"];
        const second = guest(short.paths, recv);
        const sender = guest(short.paths, ["send", "-q", inputs[1]!, "--channel", "relinked-second"]);
        expect([await second.exit(), await sender.exit()]).toEqual([0, 0]);
        first.resume();
        expect(await exitOrKill(first.proc, EXIT_BOUND_MS)).toBe(1);
        // Before: FILE was the old contents again, the second's verified copy moved to FILE.partial.
        expect(sameBytes(new Uint8Array(readFileSync(output)), data[1]!)).toBe(true);
        expect(existsSync(`${output}.partial`)).toBe(false);
      } finally {
        first.kill();
      }
    },
    60_000,
  );
});
