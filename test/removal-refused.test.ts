/**
 * A file ivsh removes whose directory refuses the removal (flagged append-only, chattr +a: unlink is EPERM
 * for root too). Bun 1.4.5's rmSync(path, { force: true }) reported that EPERM as EFAULT, "bad address in
 * system call argument": `ivsh host` stopping with its socket's directory flagged meanwhile ended with
 * "Failed to rm SOCKET since bad address in system call argument (EFAULT)", exit 1, the rest of its stop
 * skipped; a receive that failed said its FILE.partial was "left", not why it was not removed. Each now
 * names EPERM and the flag.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { asParentOfArbiter } from "../src/host/parent.ts";
import { removeFile } from "../src/remove-file.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, eventually, exitOrKill, readUntil } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { stoppedAfter } from "./helpers/stopped-recv.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";
import { guest, randomFile } from "./helpers/transfer.ts";

const chattr = (flag: string, path: string) => Bun.spawnSync(["chattr", flag, path]).exitCode === 0;

/** Why a directory cannot be flagged append-only here (not root, no chattr, a /dev/shm without it). */
function cannotFlag(): string | undefined {
  if (process.getuid?.() !== 0) return "only root may set the append-only flag (chattr +a)";
  if (!Bun.which("chattr")) return "chattr is not installed";
  const probe = mkdtempSync("/dev/shm/ivsh-chattr-");
  const works = chattr("+a", probe);
  chattr("-a", probe);
  rmSync(probe, { recursive: true });
  return works ? undefined : "/dev/shm's file system here has no append-only flag (chattr +a)";
}
const flagless = cannotFlag();

const suite = sharedArbiter("removal-refused");
let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("removal-refused");
});
afterAll(() => paths?.cleanup());

/** A new directory under /dev/shm (tmpfs has the flag), flagged append-only while `run` runs. */
async function inAppendOnly(name: string, run: (dir: string, flag: () => void) => Promise<void>) {
  const dir = join(paths.shmDir, name);
  mkdirSync(dir);
  try {
    await run(dir, () => expect(chattr("+a", dir)).toBe(true));
  } finally {
    chattr("-a", dir);
  }
}

testUnless(flagless, "removeFile: unlink's EPERM, not EFAULT; a missing file is no error", async () => {
  await inAppendOnly("unit", async (dir, flag) => {
    const file = join(dir, "kept");
    writeFileSync(file, "");
    flag();
    let code: unknown;
    try {
      removeFile(file);
    } catch (error) {
      code = (error as { code?: unknown }).code;
    }
    // Bun's rmSync(file, { force: true }) says EFAULT here.
    expect(code).toBe("EPERM");
    expect(existsSync(file)).toBe(true);
    removeFile(join(dir, "never-made"));
  });
});

testUnless(
  flagless,
  "ivsh host stopping with its socket's directory made append-only: EPERM and the flag said, and it still stops with 0",
  async () => {
    await inAppendOnly("host", async (dir, flag) => {
      const socket = join(dir, "arbiter.sock");
      const region = join(paths.shmDir, "host-region");
      const host = tracked(
        Bun.spawn(
          [
            process.execPath,
            CLI,
            "host",
            "--exit-with-parent",
            "--region",
            region,
            "--socket",
            socket,
            "--size",
            "1MiB",
          ],
          {
            stdout: "ignore",
            stderr: "pipe",
            env: { ...process.env, NO_COLOR: "1", ...asParentOfArbiter() },
          },
        ),
      );
      const started = await readUntil(host.stderr, "arbiter serving");
      expect(started).toContain("arbiter serving");
      flag();
      host.kill("SIGTERM");
      const [code, said] = await Promise.all([
        exitOrKill(host, EXIT_BOUND_MS),
        readUntil(host.stderr, () => false),
      ]);
      // Before: "Failed to rm SOCKET since bad address in system call argument (EFAULT)", exit 1.
      expect(said).not.toContain("EFAULT");
      expect(said).toContain(
        `could not remove the socket ${socket} as the arbiter stopped (EPERM: its directory ${dir} is append-only (chattr +a;`,
      );
      // The rest of the stop ran: its last line says where the state stays.
      expect(said).toContain("stopped on SIGTERM; allocations and sessions stay in");
      expect(code).toBe(0);
    });
  },
  60_000,
);

testUnless(
  flagless,
  "a receive that fails with its FILE.partial's directory made append-only: EPERM and the flag said",
  async () => {
    await inAppendOnly("recv", async (dir, flag) => {
      const out = join(dir, "out");
      // No sender: the receiver waits, with FILE.partial made, until Ctrl-C.
      const receiver = guest(suite.paths, [
        "recv",
        "--channel",
        "rms-refused",
        "--out",
        out,
        "--timeout",
        "60s",
      ]);
      await eventually(async () => existsSync(`${out}.partial`), 20_000, "the receiver making FILE.partial");
      flag();
      receiver.proc.kill("SIGINT");
      await receiver.exit();
      const said = await receiver.stderr;
      // Before: "the 0 bytes that arrived are left in OUT.partial, unverified", no word of why.
      expect(said).toContain(
        `left in ${out}.partial, unverified: it could not be removed (EPERM: its directory ${dir} is append-only (chattr +a;`,
      );
      expect(existsSync(`${out}.partial`)).toBe(true);
    });
  },
  60_000,
);

// The file a receive with --force replaced is kept aside (FILE.ivsh-replaced) until the verdict, then
// removed. The receiver is stopped (strace's SIGSTOP) right after its keep unlinked FILE.partial (the old
// file's name after the swap), the directory flagged, and continued: that removal is refused.
testUnless(
  flagless ?? straceUnusable(),
  "recv --force whose replaced file's directory is made append-only before the verdict: EPERM and the flag said",
  async () => {
    await inAppendOnly("replaced", async (dir, flag) => {
      const out = join(dir, "out");
      writeFileSync(out, "the old contents");
      const injects = ["unlink:signal=SIGSTOP:when=1"];
      const options = { paths: suite.paths, extra: ["--force"], injects };
      const receiver = stoppedAfter("unlink,unlinkat", "rms-replaced", out, options);
      try {
        const input = join(paths.dir, "replaced.in");
        await randomFile(input, 10_000);
        const sender = guest(suite.paths, ["send", "-q", input, "--channel", "rms-replaced"]);
        await receiver.untilStopped("the receiver's keep");
        flag();
        receiver.resume();
        // The transfer stands: only the old file's second name is left.
        expect([await exitOrKill(receiver.proc, EXIT_BOUND_MS), await sender.exit()]).toEqual([0, 0]);
        // Before: "OUT.ivsh-replaced, the file OUT replaced, could not be removed: delete it yourself".
        expect(await receiver.stderr).toContain(
          `${out}.ivsh-replaced, the file ${out} replaced, could not be removed (EPERM: its directory ${dir} is append-only (chattr +a;`,
        );
        expect(readFileSync(`${out}.ivsh-replaced`, "utf8")).toBe("the old contents");
      } finally {
        receiver.kill();
      }
    });
  },
  60_000,
);

// A region `ivsh host` made, then refused (no room for 1 TiB), is removed while still locked; its
// directory append-only, that removal is refused.
testUnless(
  flagless,
  "ivsh host refused a region it made, in an append-only directory: the refusal's own error, the file named as left",
  async () => {
    await inAppendOnly("region", async (dir, flag) => {
      flag();
      const region = join(dir, "region");
      const socket = join(paths.shmDir, "region.sock");
      const host = tracked(
        Bun.spawn([process.execPath, CLI, "host", "--region", region, "--socket", socket, "--size", "1TiB"], {
          stdout: "ignore",
          stderr: "pipe",
          env: { ...process.env, NO_COLOR: "1", ...asParentOfArbiter() },
        }),
      );
      const said = new Response(host.stderr).text();
      expect(await exitOrKill(host, EXIT_BOUND_MS)).toBe(1);
      // Before: "Failed to unlink REGION since operation not permitted (EPERM)", the lack of room unsaid.
      expect(await said).toMatch(
        new RegExp(
          `^\\[ivsh\\] ERROR Failed to use ${region} as a 1.00 TiB region since the region needs .* more .*; ` +
            `${region}, which this start made, is left \\(EPERM: its directory ${dir} is append-only \\(chattr \\+a;.*\\): remove it yourself\\n$`,
        ),
      );
    });
  },
  60_000,
);
