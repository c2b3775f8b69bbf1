/** What `ivsh demo` makes and must remove, told by the pid its directories are named with. */
import { readdirSync } from "node:fs";
import { tmpdir } from "node:os";

/**
 * What the demo of pid `pid` made: its workspaces (ivsh-demo-PID-*, in /dev/shm and `tmp`, its TMPDIR) and
 * its arbiter's temporary directories (ivsh-bench-KIND-PID-*). Another demo running meanwhile on the
 * machine (another test run) has its own.
 */
export function demoLeftovers(pid: number, tmp = tmpdir()): string[] {
  const made = (dir: string, pattern: RegExp) =>
    readdirSync(dir)
      .filter((name) => pattern.test(name))
      .map((name) => `${dir}/${name}`);
  return [
    ...made("/dev/shm", new RegExp(`^ivsh-demo-${pid}-`)),
    ...made(tmp, new RegExp(`^ivsh-(demo|bench-[a-z]+)-${pid}-`)),
  ];
}
