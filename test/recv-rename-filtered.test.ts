/**
 * recv --out FILE where a seccomp filter answers every renameat2 with EPERM (Docker's default profile did,
 * before it listed the call), or a kernel before 3.15 with ENOSYS: the keep's RENAME_NOREPLACE and
 * RENAME_EXCHANGE are unsupported there, as on NFS, not refused. strace injects the answer into each
 * renameat2 call of the receiver.
 */
import { afterAll, expect } from "bun:test";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renameNoReplace } from "../src/ffi/rename.ts";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { randomSender, stoppedAfter } from "./helpers/stopped-recv.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";
import { sameBytes } from "./helpers/transfer.ts";

const suite = sharedArbiter("rnm-filtered");

/**
 * What answers: a seccomp filter (EPERM to every renameat2), a kernel before 3.15 (ENOSYS; glibc's wrapper
 * tells a call with flags EINVAL then, so src/ffi/rename.ts sees that, as from NFS), a FUSE file system
 * with neither renameat2's flags (EINVAL) nor hard links (EPERM): the keep's last way, a plain rename.
 */
const filter = { who: "a filter answering renameat2 EPERM", errnos: ["renameat2:EPERM"] };
const noLinks = {
  who: "a file system with neither renameat2's flags (EINVAL) nor links (EPERM)",
  errnos: ["renameat2:EINVAL", "link:EPERM"],
};
const cases = [
  { force: false, ...filter },
  { force: true, ...filter },
  { force: true, who: "a kernel without renameat2 (ENOSYS)", errnos: ["renameat2:ENOSYS"] },
  { force: false, ...noLinks },
  { force: true, ...noLinks },
];
const NAMES: Record<string, string> = {
  EPERM: "EPERM (Operation not permitted)",
  ENOSYS: "ENOSYS (Function not implemented)",
  EINVAL: "EINVAL (Invalid argument)",
};

for (const [index, { force, who, errnos }] of cases.entries())
  testUnless(
    straceUnusable(),
    `recv --out FILE${force ? " --force" : ""} under ${who}: kept, by the fallback`,
    async () => {
      const label = `filtered-${index}`;
      const output = join(suite.dir, `${label}.out`);
      if (force) writeFileSync(output, "the old file\n");
      // Every call (no -P: a filter looks at no name), never stopped.
      const injects = errnos.map((call) => call.replace(":", ":error="));
      const options = { paths: suite.paths, on: [], injects };
      const extra = force ? ["--force"] : [];
      const recv = stoppedAfter("renameat2,link", label, output, { ...options, extra });
      try {
        const { data, sender } = await randomSender(suite, label, 20_000);
        const codes = [await exitOrKill(recv.proc, EXIT_BOUND_MS), await sender.exit()];
        // Before: 1 and 1, 'Failed to keep ... renaming it to FILE failed: this user may not change ... (EPERM)'.
        expect({ codes, said: await recv.stderr }).toEqual({ codes: [0, 0], said: expect.any(String) });
        // Each call named was made, and failed as injected.
        const traced = readFileSync(`${output}.strace`, "utf8").split("\n");
        const failed = errnos.filter((call) => {
          const [name, errno] = call.split(":") as [string, string];
          const answer = `= -1 ${NAMES[errno]} (INJECTED)`;
          return traced.some((line) => line.includes(`${name}(`) && line.includes(answer));
        });
        expect(failed).toEqual(errnos);
        expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
        expect([existsSync(`${output}.partial`), existsSync(`${output}.ivsh-replaced`)]).toEqual([
          false,
          false,
        ]);
      } finally {
        recv.kill();
      }
    },
    60_000,
  );

// There, the file --force replaces is set aside by a plain rename too: never over a FILE.ivsh-replaced
// already there (a killed receive's leftover, someone's), which a rename would replace.
testUnless(
  straceUnusable(),
  `recv --out FILE --force under ${noLinks.who}, a FILE.ivsh-replaced already there: that file is kept`,
  async () => {
    const label = "filtered-leftover";
    const output = join(suite.dir, `${label}.out`);
    writeFileSync(output, "the old file\n");
    writeFileSync(`${output}.ivsh-replaced`, "a killed receive's leftover\n");
    const injects = noLinks.errnos.map((call) => call.replace(":", ":error="));
    const options = { paths: suite.paths, on: [], injects, extra: ["--force"] };
    const recv = stoppedAfter("renameat2,link", label, output, options);
    try {
      const { data, sender } = await randomSender(suite, label, 20_000);
      expect([await exitOrKill(recv.proc, EXIT_BOUND_MS), await sender.exit()]).toEqual([0, 0]);
      expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
      // Before (the look for a taken name dropped): the old file, renamed over it, was left there instead.
      expect(readFileSync(`${output}.ivsh-replaced`, "utf8")).toBe("a killed receive's leftover\n");
    } finally {
      recv.kill();
    }
  },
  60_000,
);

// The kernel's own EPERM (here an immutable file, which no one may rename) is no filter: thrown, for the
// keep to say, never followed by a link and an unlink that would do half of what was refused.
const chattr = (flag: string, path: string) => Bun.spawnSync(["chattr", flag, path]).exitCode === 0;
const dir = mkdtempSync("/tmp/ivsh-rnm-refused-");
const fixed = join(dir, "fixed");
afterAll(() => {
  chattr("-i", fixed);
  rmSync(dir, { recursive: true, force: true });
});
writeFileSync(fixed, "immutable\n");
// Whether the flag can be set is tried here and undone at once: set for the whole file's run, a run
// killed meanwhile (a CI timeout, Ctrl-C) left a directory in /tmp that even root's rm -rf cannot remove.
const immutable =
  process.getuid?.() === 0 && Bun.which("chattr") !== null && chattr("+i", fixed) && chattr("-i", fixed);
testUnless(
  immutable ? undefined : "only root may chattr +i a file (and its file system must have the flag)",
  "renameat2 of an immutable file: the kernel's EPERM is thrown, not taken for a filter's",
  () => {
    expect(chattr("+i", fixed)).toBe(true);
    try {
      expect(() => renameNoReplace(fixed, join(dir, "moved"))).toThrow("EPERM");
      expect(existsSync(join(dir, "moved"))).toBe(false);
    } finally {
      chattr("-i", fixed);
    }
  },
);
