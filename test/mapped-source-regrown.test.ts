/**
 * What a send says when its mapped file lost pages (the copy's SIGBUS survived) but is back to its size
 * by the time the sender looks (src/transfer/io.ts `pagesLost`): shrunk, then grown again by another
 * writer. The file was written, so it is SourceChanged saying so, neither "ended after N of its N bytes"
 * nor a storage error. strace holds the sender's look at the file (its statx) until the test has grown
 * it back: an ordering, not a timing, as long as the test sees the SIGBUS within the hold.
 */
import { expect } from "bun:test";
import { existsSync, readFileSync, truncateSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { EXIT_BOUND_MS, eventually, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";
import { guest, guestUnderStrace, outPath, randomFile } from "./helpers/transfer.ts";

const MIB = 1 << 20;
const suite = sharedArbiter("mapped-regrown", { size: "64MiB" });

testUnless(
  straceUnusable(),
  "a file shrunk under the mapping, then grown back: 'it was written to'",
  async () => {
    const name = "mapped-regrown";
    const input = join(suite.shmDir, `${name}.in`);
    const log = join(suite.dir, `${name}.strace`);
    await randomFile(input, 32 * MIB);
    // Written long ago: shrinking and growing it now changes its time, however coarse the file system's clock.
    utimesSync(input, new Date(2000, 0), new Date(2000, 0));
    // The file's fourth statx is pagesLost's (three come with opening it; the check for holes is an lseek):
    // held 5 s.
    const hold = [
      "-e",
      "trace=mmap,statx",
      "-e",
      "signal=SIGBUS",
      "-e",
      "inject=statx:delay_enter=5000000:when=4",
    ];
    const sent = ["send", input, "--channel", name];
    const { proc: sender, stderr } = guestUnderStrace(suite.paths, log, ["-P", input, ...hold], sent);
    const logged = (pattern: RegExp) => existsSync(log) && pattern.test(readFileSync(log, "utf8"));
    await eventually(async () => logged(/mmap\(NULL, 33554432, PROT_READ/), EXIT_BOUND_MS, "the mapping");
    truncateSync(input, 16 * MIB);
    const receiver = guest(suite.paths, [
      "recv",
      "--channel",
      name,
      "--out",
      outPath(suite.paths, `${name}.out`),
    ]);
    await eventually(async () => logged(/--- SIGBUS/), EXIT_BOUND_MS, "the copy's SIGBUS");
    truncateSync(input, 32 * MIB);
    expect(await exitOrKill(sender, EXIT_BOUND_MS)).toBe(1);
    const said = await stderr;
    // The look held was the one after the SIGBUS (if this fails, the count of statx above is out of date).
    expect(readFileSync(log, "utf8")).toMatch(/--- SIGBUS .*\n\d+ +statx\(.*\(DELAYED\)/);
    expect(said).toContain(`Failed to send ${input} since it was written to while it was being sent`);
    expect(await receiver.exit()).not.toBe(0);
  },
);
