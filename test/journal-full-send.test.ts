/**
 * A sender's ring refused because the arbiter's --state journal cannot be written (its file system full):
 * told as such, with what to do (free space there, or move --state), to the sender and to the receiver
 * waiting for it (the setup-failure note). It came back as NoSpace, so `ivsh guest send` advised a larger
 * --size, and the receiver "the region had no room for its ring".
 *
 * The sender is stopped (strace's SIGSTOP as its second request, the channel's open, is sent) until the
 * arbiter holds its channel; the journal's file system is then filled and a change refused, so the ring's
 * allocation is the sender's first change the journal refuses.
 */
import { expect } from "bun:test";
import { join } from "node:path";
import { fetchStatus } from "../src/guest/inspect.ts";
import { smallJournals, untilRefused } from "./helpers/full-journal.ts";
import { CLI } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, eventually, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { readIfThere } from "./helpers/stopped-recv.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";
import { clientEnv, guest, randomFile } from "./helpers/transfer.ts";

const withSmallJournal = smallJournals("lo7-journal-full-send");

testUnless(
  cannotMount ?? straceUnusable(),
  "a ring refused because the state journal's file system is full: sender and receiver name the journal, not --size",
  () =>
    withSmallJournal("small", async ({ own, connect, fill }) => {
      const helper = await connect("helper");
      const input = join(own.dir, "journal-full.in");
      await randomFile(input, 20_000);
      const out = join(own.dir, "journal-full.out");
      const recvArgs = ["recv", "--channel", "jf", "--out", out, "--timeout", "10s"];
      const receiver = guest(own, recvArgs);
      const holders = async () =>
        (await fetchStatus({ unix: own.socket })).report.sync.find((sync) => sync.name === "channel:jf")
          ?.holders.length ?? 0;
      await eventually(async () => (await holders()) === 1, 20_000, "the receiver's channel");
      const log = join(own.dir, "journal-full.strace");
      const trace = [
        "-f",
        "-qq",
        "-o",
        log,
        "-e",
        "trace=sendto",
        "-e",
        "inject=sendto:signal=SIGSTOP:when=2",
      ];
      const sender = tracked(
        Bun.spawn(["strace", ...trace, process.execPath, CLI, "guest", "send", input, "--channel", "jf"], {
          stdout: "ignore",
          stderr: "pipe",
          env: { ...process.env, NO_COLOR: "1", ...clientEnv(own) },
        }),
      );
      const senderSaid = new Response(sender.stderr).text();
      const tracee = () => Number(readIfThere(`/proc/${sender.pid}/task/${sender.pid}/children`).trim()) || 0;
      try {
        await eventually(
          async () => readIfThere(log).includes("--- stopped by SIGSTOP ---"),
          20_000,
          "the stop",
        );
        await eventually(async () => (await holders()) === 2, 20_000, "the sender's channel");
        fill();
        expect(await untilRefused(helper, (index) => `m${index}`)).toBe("JournalFull");
        process.kill(tracee(), "SIGCONT");
        expect(await exitOrKill(sender, EXIT_BOUND_MS)).toBe(1);
        const said = await senderSaid;
        // Before: "... pass a smaller --chunk-size or --depth ..., or start the arbiter with a larger --size".
        // Which step: the ring, not the slot's close after it (whose refusal was thrown over the ring's).
        expect(said).toContain(
          "Failed to open channel 'jf' since the arbiter could not record its ring: the state journal's file system is full",
        );
        expect(said).toContain("free space there");
        expect(said).not.toContain("--size");
      } finally {
        if (tracee()) process.kill(tracee(), "SIGKILL");
        sender.kill("SIGKILL");
      }
      // Told as the sender fails, and again at its --timeout.
      expect(await receiver.exit(20_000)).toBe(1);
      const told = await receiver.stderr;
      // Before: "a sender (client N) could not set up its ring: the region had no room for its ring (... a larger --size fits it)".
      expect(told).toContain("could not set up its ring: the arbiter's state journal could not record it");
      // "or move --state to a file system with room" read as "restart it with another --state": an empty one
      // discards every allocation (state-errors.ts keepingAdvice says so to the arbiter's operator).
      expect(told).toContain("with its contents");
      expect(told).toContain("a new --state without them discards every allocation");
      expect(told).not.toContain("--size");
    }),
  60_000,
);
