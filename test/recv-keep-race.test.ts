/**
 * The last step of a receive into a file, FILE.partial renamed to FILE (and its undo when the verdict
 * could not be told), against someone who may write the directory and puts a file at FILE in between.
 * A look, then a rename, replaced that file: the receiver is stopped (strace's SIGSTOP) right after its
 * look, the file is made, and it is continued, so the order is certain, not a race the test hopes to win.
 */
import { describe, expect } from "bun:test";
import {
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { EXIT_BOUND_MS, eventually, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { randomSender, readIfThere, senderOutlastingKeep, stoppedAfter } from "./helpers/stopped-recv.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";
import { sameBytes } from "./helpers/transfer.ts";

const suite = sharedArbiter("rnm-keep-race");

/**
 * Its keep's look at FILE is the first open(2) of FILE's name (O_PATH, which holds a file found there) of a
 * receiver that found no FILE at its start; it was the 8th statx on it, the 9th with --force. A file system without hard links (vfat, exFAT: link(2)
 * fails EPERM there) is what strace makes of this one with `links: false`: before, the keep fell back
 * from a link, which fails on a taken name, to a rename, which replaces one.
 */
for (const { force, links } of [
  { force: false, links: false },
  { force: false, links: true },
  { force: true, links: true },
])
  testUnless(
    straceUnusable(),
    `recv --out FILE${force ? " --force" : ""}${links ? "" : " where links fail"}: a file made at FILE just after the keep looked is not replaced`,
    async () => {
      const label = `made-${force ? "force" : "plain"}-${links ? "links" : "nolinks"}`;
      const output = join(suite.dir, `${label}.out`);
      const injects = ["openat:signal=SIGSTOP:when=1", ...(links ? [] : ["link:error=EPERM"])];
      const extra = force ? ["--force"] : [];
      const first = stoppedAfter("openat,link", label, output, {
        paths: suite.paths,
        on: output,
        injects,
        extra,
      });
      try {
        const { data, sender } = await randomSender(suite, label, 50_000);
        await first.untilStopped("the receiver's look at FILE");
        // Stopped at its keep, not before: the whole stream is in FILE.partial.
        expect(statSync(`${output}.partial`).size).toBe(data.byteLength);
        writeFileSync(output, "someone else's\n");
        first.resume();
        // Before (links failing): 0, the file made at FILE replaced by the copy.
        expect([await exitOrKill(first.proc, EXIT_BOUND_MS), await sender.exit()]).toEqual([1, 1]);
        const said = await first.stderr;
        expect(said).toContain(`${output} was not replaced: a file was ${force ? "put" : "created"} there`);
        expect(said).toContain(`The received copy, whole and verified, is ${output}.partial`);
        // Before (--force): 'pass --force to replace one', to a receiver given --force.
        if (force) expect(said).not.toContain("pass --force");
        expect(readFileSync(output, "utf8")).toBe("someone else's\n");
        expect(sameBytes(new Uint8Array(readFileSync(`${output}.partial`)), data)).toBe(true);
      } finally {
        first.kill();
      }
    },
    60_000,
  );

// A receiver frozen past its lease after its keep (--force: FILE its copy, the old file aside) undoes the
// keep when it wakes. It linked FILE to FILE.partial, removed FILE, and renamed the old file back to FILE,
// all by name: a file saved at FILE in between (an editor's rename over it) was removed, and the old file
// put back. FILE and the old file now swap names in one step (RENAME_EXCHANGE). Stopped at the last look
// of its keep (the 14th statx on FILE; the 15th before it took the mode of the file found), then after the undo's link (before: the 2nd link on FILE) or its
// swap (after: the 2nd renameat2 on FILE; the keep's own swap is the 1st), where the save is made. Where renameat2 has no flags (NFS; here
// strace fails each with EINVAL), the link and unlink stay: the old file, renamed back to FILE once FILE
// was unlinked, replaced a file made there since (stopped after that unlink); it now stays aside, named.
describe("with a 2 s lease", () => {
  const short = sharedArbiter("rnm-undo-race", { lease: "2s" });
  for (const exchange of [true, false])
    testUnless(
      straceUnusable(),
      `a receiver undoing its keep (--force${exchange ? "" : ", no renameat2 flags"}) leaves a file saved at FILE meanwhile where it is`,
      async () => {
        const label = `saved-${exchange ? "swap" : "links"}`;
        const output = join(short.dir, `${label}.out`);
        writeFileSync(output, "the old contents");
        const injects = exchange
          ? ["link:signal=SIGSTOP:when=2", "renameat2:signal=SIGSTOP:when=2"]
          : ["renameat2:error=EINVAL", "unlink:signal=SIGSTOP:when=1"];
        injects.push("statx:signal=SIGSTOP:when=14");
        const options = { extra: ["--force"], paths: short.paths, on: output, injects };
        const first = stoppedAfter("statx,link,unlink,renameat2", label, output, options);
        try {
          const { data, sender } = await randomSender(short, label, 10_000);
          expect(await senderOutlastingKeep(first, sender)).toBe(1);
          first.resume();
          await first.untilStopped("the receiver's undo", 2);
          writeFileSync(join(short.dir, `${label}.tmp`), "saved meanwhile\n");
          renameSync(join(short.dir, `${label}.tmp`), output);
          first.resume();
          expect(await exitOrKill(first.proc, EXIT_BOUND_MS)).toBe(1);
          // Before: only the lost session's error, which names neither file.
          const said = await first.stderr;
          expect(said).toContain(
            `${output}.partial is the received copy, whole and verified, but not confirmed`,
          );
          expect(said.includes(`${output}.ivsh-replaced, the file ${output} replaced, stays`)).toBe(
            !exchange,
          );
          // Before: 'the old contents', the save removed (or replaced).
          expect(readFileSync(output, "utf8")).toBe("saved meanwhile\n");
          expect(sameBytes(new Uint8Array(readFileSync(`${output}.partial`)), data)).toBe(true);
          // Replaced by the save (a swap), or kept under its second name (links).
          const aside = `${output}.ivsh-replaced`;
          expect(exchange ? existsSync(aside) : readFileSync(aside, "utf8")).toBe(
            exchange ? false : "the old contents",
          );
        } finally {
          first.kill();
        }
      },
      60_000,
    );
});

// FILE made a hard link to FILE.partial just after the keep looked: without --force the copy's rename
// found the name taken and refused it as 'a file created there', though FILE was the verified copy; with
// --force the rename between two names of one file did nothing, and FILE.partial stayed beside FILE (a
// stale partial the next receive refused). FILE is kept as the copy, FILE.partial goes.
for (const force of [false, true])
  testUnless(
    straceUnusable(),
    `recv --out FILE${force ? " --force" : ""}: FILE hard-linked to FILE.partial just after the keep looked is kept, FILE.partial gone`,
    async () => {
      const label = `linked-${force ? "force" : "plain"}`;
      const output = join(suite.dir, `${label}.out`);
      if (force) writeFileSync(output, "the old contents");
      // The keep's look: the 1st open(2) of FILE without one at the start (the 8th statx on it, when this
      // case was written), the 10th statx with --force over one.
      const injects = [force ? "statx:signal=SIGSTOP:when=10" : "openat:signal=SIGSTOP:when=1"];
      const extra = force ? ["--force"] : [];
      const options = { paths: suite.paths, on: output, injects, extra };
      const first = stoppedAfter("statx,openat", label, output, options);
      try {
        const { data, sender } = await randomSender(suite, label, 50_000);
        await first.untilStopped("the receiver's look at FILE");
        expect(statSync(`${output}.partial`).size).toBe(data.byteLength);
        rmSync(output, { force: true });
        linkSync(`${output}.partial`, output);
        first.resume();
        // Before, without --force: 1, 'a file was created there during the transfer'.
        expect([await exitOrKill(first.proc, EXIT_BOUND_MS), await sender.exit()]).toEqual([0, 0]);
        expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
        // Before, with --force: still there.
        expect(existsSync(`${output}.partial`)).toBe(false);
        expect(existsSync(`${output}.ivsh-replaced`)).toBe(false);
      } finally {
        first.kill();
      }
    },
    60_000,
  );

// Where links fail (vfat, exFAT: EPERM; made so here by strace), --force sets the old file aside by a
// rename, so FILE has no file until the copy's rename. That rename failing (made to fail EACCES here), the
// old file was to go back, but a file made at FILE in between was taken for the old one, still there, and
// the old file's only name, FILE.ivsh-replaced, removed. It stays now, named; the file made at FILE stays.
testUnless(
  straceUnusable(),
  "recv --out FILE --force where links fail and the copy's rename fails: a file made at FILE meanwhile does not cost the old one",
  async () => {
    const output = join(suite.dir, "put-back.out");
    writeFileSync(output, "the old contents");
    // The copy's rename: the 2nd renameat2 on these paths (the 1st sets the old file aside, RENAME_NOREPLACE);
    // when this case was written, the 2nd rename(2), over FILE.
    const injects = ["link:error=EPERM", "renameat2:error=EACCES:signal=SIGSTOP:when=2"];
    const on = [output, `${output}.partial`];
    const options = { paths: suite.paths, on, injects, extra: ["--force"] };
    const first = stoppedAfter("link,rename,renameat2", "put-back", output, options);
    try {
      const { data, sender } = await randomSender(suite, "put-back", 50_000);
      await first.untilStopped("the receiver's failed rename");
      writeFileSync(output, "made meanwhile\n");
      first.resume();
      expect([await exitOrKill(first.proc, EXIT_BOUND_MS), await sender.exit()]).toEqual([1, 1]);
      // Before: removed.
      expect(readIfThere(`${output}.ivsh-replaced`)).toBe("the old contents");
      const said = await first.stderr;
      expect(said).toContain(`renaming it to ${output} failed`);
      expect(said).toContain(`the file it was to replace is ${output}.ivsh-replaced`);
      expect(readFileSync(output, "utf8")).toBe("made meanwhile\n");
      expect(sameBytes(new Uint8Array(readFileSync(`${output}.partial`)), data)).toBe(true);
    } finally {
      first.kill();
    }
  },
  60_000,
);

// --force sets the file it replaces aside (a hard link; a rename where links fail, made so here by strace),
// then renames the copy over FILE: a file put at FILE in between (a save, by anyone who may write the
// directory) was replaced, exit 0, and the old file removed as settled; nothing said. --force agreed to
// replace the file found: one put there since is refused as a file made after the look is, all three named.
// Stopped after the set-aside (its link, or its rename), or after the last look at FILE before the copy's
// rename (the 11th statx on FILE; the 12th before the copy took the mode of the file found, not of FILE by name): a look, then a rename, left that window; FILE and the copy now swap
// names in one step (RENAME_EXCHANGE), swapped back if what the copy's name took is not the old file.
const STOPS: Record<string, string[]> = {
  "set aside": ["link:signal=SIGSTOP:when=1"],
  "set aside where links fail": ["link:error=EPERM", "renameat2:signal=SIGSTOP:when=1"],
  "looked at last": ["statx:signal=SIGSTOP:when=11"],
};
for (const [stop, injects] of Object.entries(STOPS))
  testUnless(
    straceUnusable(),
    `recv --out FILE --force: a file put at FILE after the old one was ${stop} is not replaced`,
    async () => {
      const label = `aside-${stop.replaceAll(" ", "-")}`;
      const output = join(suite.dir, `${label}.out`);
      writeFileSync(output, "the old contents");
      const options = { paths: suite.paths, on: output, injects, extra: ["--force"] };
      const first = stoppedAfter("statx,link,renameat2", label, output, options);
      try {
        const { data, sender } = await randomSender(suite, label, 50_000);
        await first.untilStopped("the receiver setting the old file aside");
        writeFileSync(join(suite.dir, `${label}.tmp`), "saved meanwhile\n");
        renameSync(join(suite.dir, `${label}.tmp`), output);
        first.resume();
        // Before: 0 and 0, the save replaced by the copy, the old file removed.
        expect([await exitOrKill(first.proc, EXIT_BOUND_MS), await sender.exit()]).toEqual([1, 1]);
        expect(readFileSync(output, "utf8")).toBe("saved meanwhile\n");
        expect(readIfThere(`${output}.ivsh-replaced`)).toBe("the old contents");
        expect(sameBytes(new Uint8Array(readFileSync(`${output}.partial`)), data)).toBe(true);
        const said = await first.stderr;
        expect(said).toContain(`${output} was not replaced: a file was put there`);
        expect(said).toContain(`the file it was to replace is ${output}.ivsh-replaced`);
      } finally {
        first.kill();
      }
    },
    60_000,
  );

// FILE removed (by anyone who may write the directory) after that last look: the swap found no FILE
// (ENOENT), which was taken for the copy's own name gone: 'FILE.partial was removed', nothing kept, exit 1,
// though the copy was there, whole, and FILE free. A plain rename (before the swap) simply gave it the name.
testUnless(
  straceUnusable(),
  "recv --out FILE --force: FILE removed after the old one was looked at last is kept as the copy",
  async () => {
    const output = join(suite.dir, "removed-last.out");
    writeFileSync(output, "the old contents");
    const injects = STOPS["looked at last"] ?? [];
    const options = { paths: suite.paths, on: output, injects, extra: ["--force"] };
    const first = stoppedAfter("statx", "removed-last", output, options);
    try {
      const { data, sender } = await randomSender(suite, "removed-last", 50_000);
      await first.untilStopped("the receiver's last look at FILE");
      rmSync(output);
      first.resume();
      // Before: 1 and 1, 'removed-last.out.partial was removed or replaced during the transfer'.
      expect([await exitOrKill(first.proc, EXIT_BOUND_MS), await sender.exit()]).toEqual([0, 0]);
      expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
      expect(existsSync(`${output}.partial`)).toBe(false);
    } finally {
      first.kill();
    }
  },
  60_000,
);

// Where links fail (vfat, exFAT: EPERM; made so here by strace, which stops the receiver as its link
// fails), --force set the old file aside by renaming it to FILE.ivsh-replaced once a look found that name
// free: a file put there in between (by anyone who may write the directory) was replaced, and then removed
// as the settled old file. The rename now refuses a taken name (RENAME_NOREPLACE) and takes the next one.
testUnless(
  straceUnusable(),
  "recv --out FILE --force where links fail: a file put at FILE.ivsh-replaced just before the set-aside is not replaced",
  async () => {
    const output = join(suite.dir, "aside-taken.out");
    writeFileSync(output, "the old contents");
    const injects = ["link:error=EPERM:signal=SIGSTOP"];
    const options = { paths: suite.paths, on: output, injects, extra: ["--force"] };
    const first = stoppedAfter("link", "aside-taken", output, options);
    try {
      const { data, sender } = await randomSender(suite, "aside-taken", 50_000);
      await first.untilStopped("the receiver's failed link");
      writeFileSync(`${output}.ivsh-replaced`, "someone's\n");
      first.resume();
      // After: a second set-aside, at the next name, and its link stopped too.
      await eventually(async () => first.stopped(2) || first.proc.exitCode !== null, 20_000, "the receiver");
      first.resume();
      expect([await exitOrKill(first.proc, EXIT_BOUND_MS), await sender.exit()]).toEqual([0, 0]);
      // Before: '' (replaced by the old file, then removed with it).
      expect(readIfThere(`${output}.ivsh-replaced`)).toBe("someone's\n");
      expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
      expect(existsSync(`${output}.ivsh-replaced.1`)).toBe(false);
    } finally {
      first.kill();
    }
  },
  60_000,
);

// --force agreed to replace the file its keep found at FILE (its look: the 10th statx on FILE, which was
// there at the start). Replaced after that look and before the set-aside (by anyone who may write the
// directory), the set-aside took whatever had the name: a file saved there was replaced by the copy and then
// removed as the settled old file, exit 0; a directory made there was renamed to FILE.ivsh-replaced (it has
// no hard link) and the copy given FILE. What was set aside is now checked to be the file found: refused,
// put back, all named. FILE removed there is nothing to replace: kept as the copy (it failed, 'setting
// aside FILE ... failed: ENOENT'), as FILE removed after the last look is.
for (const made of ["file", "directory", "nothing"])
  testUnless(
    straceUnusable(),
    made === "nothing"
      ? "recv --out FILE --force: FILE removed after the keep's look, before the set-aside, is kept as the copy"
      : `recv --out FILE --force: a ${made} put at FILE after the keep's look, before the set-aside, is not replaced`,
    async () => {
      const label = `swapped-${made}`;
      const output = join(suite.dir, `${label}.out`);
      writeFileSync(output, "the old contents");
      const injects = ["statx:signal=SIGSTOP:when=10"];
      const first = stoppedAfter("statx", label, output, {
        paths: suite.paths,
        on: output,
        injects,
        extra: ["--force"],
      });
      try {
        const { data, sender } = await randomSender(suite, label, 50_000);
        await first.untilStopped("the receiver's look at FILE");
        expect(statSync(`${output}.partial`).size).toBe(data.byteLength);
        rmSync(output);
        if (made === "file") writeFileSync(output, "saved meanwhile\n");
        if (made === "directory") mkdirSync(output);
        first.resume();
        const codes = [await exitOrKill(first.proc, EXIT_BOUND_MS), await sender.exit()];
        expect(existsSync(`${output}.ivsh-replaced`)).toBe(false);
        if (made === "nothing") {
          expect(codes).toEqual([0, 0]); // Before: 1 and 1
          expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
          return expect(existsSync(`${output}.partial`)).toBe(false);
        }
        expect(codes).toEqual([1, 1]); // Before: 0 and 0
        if (made === "file") expect(readFileSync(output, "utf8")).toBe("saved meanwhile\n");
        else expect(statSync(output).isDirectory()).toBe(true);
        expect(sameBytes(new Uint8Array(readFileSync(`${output}.partial`)), data)).toBe(true);
        const said = await first.stderr;
        const why =
          made === "file" ? "a file was put there" : "it became something other than a regular file";
        expect(said).toContain(`${output} was not replaced: ${why}`);
        expect(said).toContain(`The received copy, whole and verified, is ${output}.partial`);
      } finally {
        first.kill();
        rmSync(output, { recursive: true, force: true });
      }
    },
    60_000,
  );
