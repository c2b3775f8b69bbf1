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
import { stoppedAfter } from "./helpers/stopped-recv.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";
import { guest, randomFile, sameBytes } from "./helpers/transfer.ts";

const suite = sharedArbiter("rnm-filtered");

/**
 * What answers every renameat2: a seccomp filter (EPERM), or a kernel before 3.15 (ENOSYS; glibc's wrapper
 * tells a call with flags EINVAL then, so src/ffi/rename.ts sees that, as from NFS).
 */
const answers = [
  { errno: "EPERM", said: "EPERM (Operation not permitted)", who: "a filter" },
  { errno: "ENOSYS", said: "ENOSYS (Function not implemented)", who: "a kernel without it" },
];

for (const [force, { errno, said, who }] of [
  [false, answers[0]!],
  [true, answers[0]!],
  [true, answers[1]!],
] as const)
  testUnless(
    straceUnusable(),
    `recv --out FILE${force ? " --force" : ""} under ${who} answering renameat2 ${errno}: kept, by the fallback`,
    async () => {
      const label = `filtered-${force ? "force" : "plain"}-${errno}`;
      const output = join(suite.dir, `${label}.out`);
      if (force) writeFileSync(output, "the old file\n");
      // Every renameat2 (no -P: a filter looks at no name), never stopped.
      const options = { paths: suite.paths, on: [], injects: [`renameat2:error=${errno}`] };
      const recv = stoppedAfter("renameat2", label, output, { ...options, extra: force ? ["--force"] : [] });
      try {
        const input = join(suite.dir, `${label}.in`);
        const data = await randomFile(input, 20_000);
        const sender = guest(suite.paths, ["send", "-q", input, "--channel", label]);
        const codes = [await exitOrKill(recv.proc, EXIT_BOUND_MS), await sender.exit()];
        // Before: 1 and 1, 'Failed to keep ... renaming it to FILE failed: this user may not change ... (EPERM)'.
        expect({ codes, said: await recv.stderr }).toEqual({ codes: [0, 0], said: expect.any(String) });
        expect(readFileSync(`${output}.strace`, "utf8")).toContain(`${said} (INJECTED)`);
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

// The kernel's own EPERM (here an immutable file, which no one may rename) is no filter: thrown, for the
// keep to say, never followed by a link and an unlink that would do half of what was refused.
const chattr = (flag: string, path: string) => Bun.spawnSync(["chattr", flag, path]).exitCode === 0;
const dir = mkdtempSync("/tmp/ivsh-rnm-refused-");
afterAll(() => {
  chattr("-i", join(dir, "fixed"));
  rmSync(dir, { recursive: true, force: true });
});
writeFileSync(join(dir, "fixed"), "immutable\n");
const immutable =
  process.getuid?.() === 0 && Bun.which("chattr") !== null && chattr("+i", join(dir, "fixed"));
testUnless(
  immutable ? undefined : "only root may chattr +i a file (and its file system must have the flag)",
  "renameat2 of an immutable file: the kernel's EPERM is thrown, not taken for a filter's",
  () => {
    expect(() => renameNoReplace(join(dir, "fixed"), join(dir, "moved"))).toThrow("EPERM");
    expect(existsSync(join(dir, "moved"))).toBe(false);
  },
);
