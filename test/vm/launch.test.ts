/**
 * launch.sh's checks that need no boot (--dry-run): what it tells the operator before the guest would
 * find out the hard way.
 */
import { expect } from "bun:test";
import { testWithTool } from "../helpers/tools.ts";
import { LAUNCH, vmName } from "./vm.ts";

async function dryRun(...options: string[]): Promise<{ code: number; stderr: string }> {
  const common = ["--name", vmName("dry"), "--region", "none", "--accel", "tcg", "--no-build", "--dry-run"];
  const proc = Bun.spawn([LAUNCH, ...common, ...options], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  return { code, stderr };
}

testWithTool(
  "qemu-system-x86_64",
  "a bridge command that cannot run is said at launch, not only as guest connections closing",
  async () => {
    const missing = await dryRun("--ivsh", "/nonexistent/ivsh bridge-words");
    expect(missing.code).toBe(0);
    expect(missing.stderr).toContain("note: the bridge command '/nonexistent/ivsh'");
    expect(missing.stderr).toContain("guest connections to 10.0.2.100:7777 will fail");
    const found = await dryRun("--ivsh", `${process.execPath} /some/cli.ts`);
    expect(found.stderr).not.toContain("note: the bridge command");
  },
);
