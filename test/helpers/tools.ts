/**
 * Tests that need a host tool (socat, QEMU) run only where it is installed, and say so when they do not:
 * `.ci/run` installs every tool, so in CI none of these is skipped.
 */
import { test } from "bun:test";

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
