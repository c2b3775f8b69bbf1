/**
 * A receiver frozen past its lease just after its keep (--force) undoes the keep when it wakes. Where
 * renameat2 has no flags (some FUSE file systems; strace answers each EINVAL), the undo moves each file by
 * a hard link, then removes its old name: the copy from FILE to FILE.partial, then the file it replaced
 * from FILE.ivsh-replaced back to FILE. Either removal refused (EPERM, as in a directory made append-only)
 * was thrown as "Failed to undo the keeping of FILE since ...", in place of the lost session that made the
 * undo (and the first said the directory's permissions were to blame, and FILE alone was the copy). The
 * lost session is what is told now, and the name left is said as a warning.
 */
import { expect } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { randomSender, readIfThere, senderOutlastingKeep, stoppedAfter } from "./helpers/stopped-recv.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";
import { sameBytes } from "./helpers/transfer.ts";

const short = sharedArbiter("lo12-undo-link-left", { lease: "2s" });

/**
 * `recv --out FILE --force` over "the old contents", stopped as its keep's rename (the fallback of its
 * swap) returns until its sender gave up on it, with `unlink` injected on FILE, FILE.partial and
 * FILE.ivsh-replaced; what it said, and whether FILE and FILE.partial are the copy. With no FILE before
 * (`replacing` false) the keep is a link and an unlink, stopped as the link returns.
 */
async function undoneReceive(label: string, unlink: string, replacing = true) {
  const output = join(short.dir, `${label}.out`);
  if (replacing) writeFileSync(output, "the old contents");
  const stop = replacing ? "rename:signal=SIGSTOP:when=1" : "link:signal=SIGSTOP:when=1";
  const injects = ["renameat2:error=EINVAL", stop, unlink];
  const on = [output, `${output}.partial`, `${output}.ivsh-replaced`];
  const options = { extra: ["--force"], paths: short.paths, on, injects };
  const first = stoppedAfter("rename,renameat2,link,unlink", label, output, options);
  try {
    const { data, sender } = await randomSender(short, label, 10_000);
    expect(await senderOutlastingKeep(first, sender)).toBe(1);
    first.resume();
    expect(await exitOrKill(first.proc, EXIT_BOUND_MS)).toBe(1);
    const said = await first.stderr;
    expect(readFileSync(`${output}.strace`, "utf8")).toMatch(/unlink\(.*\) = -1 EPERM .*\(INJECTED\)/);
    const copyAt = (path: string) => sameBytes(new Uint8Array(readFileSync(path)), data);
    return { output, said, copyAt };
  } finally {
    first.kill();
  }
}

testUnless(
  straceUnusable(),
  "recv --out FILE --force, no renameat2 flags: an undo whose FILE's removal after its link is refused tells the lost session, and names FILE as left",
  async () => {
    const { output, said, copyAt } = await undoneReceive("undo-copy-left", "unlink:error=EPERM:when=1");
    // Before: "Failed to undo the keeping of FILE since moving it back to FILE.partial failed (this user may
    // no longer look in or change DIR/ (EPERM)): FILE is the received copy ...".
    expect(said).not.toContain("Failed to undo the keeping");
    expect(said).toContain("ERROR Failed to keep client");
    expect(said).toContain("(lease expired)");
    expect(said).toContain(
      `${output} is still a second name of the received copy: it could not be removed (EPERM), so the file it replaced was not put back: delete ${output} yourself`,
    );
    expect(said).toContain(`${output}.partial is the received copy, whole and verified, but not confirmed`);
    expect(said).toContain(
      `${output}.ivsh-replaced, the file ${output} replaced, stays under that name: ${output} is still the copy's`,
    );
    expect([copyAt(output), copyAt(`${output}.partial`)]).toEqual([true, true]);
    expect(readIfThere(`${output}.ivsh-replaced`)).toBe("the old contents");
  },
  60_000,
);

testUnless(
  straceUnusable(),
  "recv --out FILE --force, no renameat2 flags: an undo whose put-back's removal of FILE.ivsh-replaced is refused tells the lost session, and names that name as left",
  async () => {
    const { output, said, copyAt } = await undoneReceive("undo-aside-left", "unlink:error=EPERM:when=2");
    // Before: "Failed to undo the keeping of FILE since putting FILE.ivsh-replaced, the file it replaced,
    // back at FILE failed (EPERM) ...", with that file back at FILE all the same.
    expect(said).not.toContain("Failed to undo the keeping");
    expect(said).toContain("(lease expired)");
    expect(said).toContain(
      `${output}.ivsh-replaced is a second name of the file ${output} replaced, back at ${output}: it could not be removed (EPERM): delete it yourself`,
    );
    expect(said).not.toContain("stays under that name");
    expect(copyAt(`${output}.partial`)).toBe(true);
    expect([readIfThere(output), readIfThere(`${output}.ivsh-replaced`)]).toEqual([
      "the old contents",
      "the old contents",
    ]);
  },
  60_000,
);

testUnless(
  straceUnusable(),
  "recv --out FILE --force, no renameat2 flags, no FILE before: an undo whose FILE's removal after its link is refused names FILE as left, and no file it replaced",
  async () => {
    const { output, said, copyAt } = await undoneReceive("undo-new-left", "unlink:error=EPERM:when=2", false);
    expect(said).toContain("(lease expired)");
    // Before: "..., so the file it replaced was not put back: ...", where FILE replaced none.
    expect(said).toContain(
      `${output} is still a second name of the received copy: it could not be removed (EPERM): delete ${output} yourself`,
    );
    expect(said).not.toContain("replaced");
    expect([copyAt(output), copyAt(`${output}.partial`)]).toEqual([true, true]);
  },
  60_000,
);
