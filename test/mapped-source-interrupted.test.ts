/**
 * Ctrl-C during a send from a mapping (src/transfer/mapped-file.ts): each window is copied in steps of
 * about 1 MiB and the signal is looked at between them, not only once the window (64 MiB) is sent. A sender
 * slower than its receiver (slow storage) never waits for ring room, the one other place it sees the
 * signal; here the ring holds the whole file, so it never waits either. The signal lands while strace holds
 * the window's mmap, before any of it is copied, and the file loses its second half meanwhile: a sender
 * that copies past its first step before it looks fails on the lost pages (SourceChanged) instead of
 * stopping as interrupted. The arbiter's lease is long enough that the hold does not make the sender
 * confirm its session first (a wait where it would see the signal too).
 */
import { expect } from "bun:test";
import { existsSync, readFileSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { EXIT_BOUND_MS, eventually, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";
import { guest, guestUnderStrace, outPath, randomFile } from "./helpers/transfer.ts";

const MIB = 1 << 20;
const suite = sharedArbiter("mapped-interrupted", { size: "64MiB", lease: "60s" });

testUnless(
  straceUnusable(),
  "interrupted as it maps its file: it stops after the window's first step, not at the window's end",
  async () => {
    const name = "mapped-interrupted";
    const input = join(suite.dir, `${name}.in`);
    const log = join(suite.dir, `${name}.strace`);
    await randomFile(input, 8 * MIB);
    const receiver = guest(suite.paths, [
      "recv",
      "--channel",
      name,
      "--out",
      outPath(suite.paths, `${name}.out`),
    ]);
    // The window's mmap held 5 s as it is entered (strace logs the call then): an ordering, as long as the
    // test sees the call within the hold. 4096 chunks of 4 KiB: the ring holds the whole file.
    const hold = ["-P", input, "-e", "trace=mmap", "-e", "inject=mmap:delay_enter=5000000:when=1"];
    const sent = ["send", input, "--channel", name, "--chunk-size", "4096", "--depth", "4096"];
    const { proc: sender, stderr } = guestUnderStrace(suite.paths, log, hold, sent);
    const held = () =>
      existsSync(log)
        ? /^(\d+) +mmap\(NULL, 8388608, PROT_READ, MAP_SHARED/m.exec(readFileSync(log, "utf8"))
        : null;
    await eventually(async () => held() !== null, EXIT_BOUND_MS, "the sender to map its file");
    truncateSync(input, 4 * MIB);
    process.kill(Number(held()![1]), "SIGINT"); // the main thread's id: the process's
    const code = await exitOrKill(sender, EXIT_BOUND_MS);
    expect(readFileSync(log, "utf8")).toMatch(/mmap resumed>.*\(DELAYED\)/); // held, not past already
    // Looked at only after the window: "it ended after 4194304 of its 8388608 bytes", exit 1.
    expect([code, await stderr]).toEqual([
      130,
      expect.stringContaining("since it was interrupted by SIGINT"),
    ]);
    expect(await receiver.exit()).not.toBe(0);
  },
  60_000,
);
