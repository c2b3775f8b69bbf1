/**
 * Tests that need a host tool (socat, QEMU) run only where it is installed, and say so when they do not:
 * `.ci/run` installs every tool, so in CI none of these is skipped.
 */
import { test } from "bun:test";
import { chmodSync, mkdtempSync, rmSync } from "node:fs";

export function toolMissing(tool: string): string | undefined {
  return Bun.which(tool) ? undefined : `${tool} is not installed (.ci/run installs it with apt-get)`;
}

/** Why strace cannot stop a process here, if it cannot (not installed, or ptrace refused). */
export function straceUnusable(): string | undefined {
  const missing = toolMissing("strace");
  if (missing) return missing;
  const probe = Bun.spawnSync(["strace", "-qq", "-o", "/dev/null", "true"], { stderr: "pipe" });
  return probe.exitCode === 0 ? undefined : `strace cannot trace here: ${probe.stderr.toString().trim()}`;
}

/** `test`, or a skip whose reason is printed, when `tool` is not on PATH. */
export function testWithTool(
  tool: string,
  name: string,
  run: () => Promise<void> | void,
  timeoutMs?: number,
): void {
  testUnless(toolMissing(tool), name, run, timeoutMs);
}

/** `test`, or, when there is a reason not to run it, a skip that prints that reason. */
export function testUnless(
  reason: string | undefined,
  name: string,
  run: () => Promise<void> | void,
  timeoutMs?: number,
): void {
  if (reason) {
    console.warn(`skipping "${name}": ${reason}`);
    // The reason is in the name too, so the runner's own list of skipped tests says why.
    test.skip(`${name} (skipped: ${reason})`, run);
    return;
  }
  test(name, run, timeoutMs);
}

/**
 * How to make a directory refuse changes for this user: chmod for anyone but root; root ignores modes, so
 * for root the immutable attribute (chattr +i), where the file system has it. Undefined if neither works.
 */
export function directoryFreezer(): { freeze(dir: string): void; thaw(dir: string): void } | undefined {
  if (process.getuid?.() !== 0)
    return { freeze: (dir) => chmodSync(dir, 0o555), thaw: (dir) => chmodSync(dir, 0o755) };
  const chattr = (flag: string, dir: string) => Bun.spawnSync(["chattr", flag, dir]).exitCode === 0;
  if (!Bun.which("chattr")) return undefined;
  const probe = mkdtempSync("/tmp/ivsh-chattr-");
  const works = chattr("+i", probe);
  chattr("-i", probe);
  rmSync(probe, { recursive: true });
  if (!works) return undefined;
  return { freeze: (dir) => chattr("+i", dir), thaw: (dir) => chattr("-i", dir) };
}
