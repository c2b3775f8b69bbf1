/**
 * The names `ivsh bench --vm` gives its VMs: launch.sh runs one VM per name at a time, and the benchmark's
 * were fixed ("benchvm", "benchrpc-handover", "benchrpc-relay"), so a second `ivsh bench --vm` started
 * while one ran failed at its first boot, after minutes of host measurements, with launch.sh's advice to
 * "pick another --name", which bench does not take. Each run's names are now its own (its pid), and
 * launch.sh takes them (its --dry-run checks the name and starts nothing).
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "../helpers/paths.ts";

const KINDS = ["benchvm", "benchrpc-handover", "benchrpc-relay"];

/**
 * The names a benchmark process would give its VMs, asked of a process of its own; with `pid`, one that
 * has that pid, as a process in another pid namespace (another container) may.
 */
function namesOfAnotherRun(pid?: number): string[] {
  const samePid = pid === undefined ? "" : `Object.defineProperty(process, "pid", { value: ${pid} });\n`;
  const script = `${samePid}const { benchVmName } = await import(${JSON.stringify(join(REPO, "src/bench/vm.ts"))});
console.log(JSON.stringify(${JSON.stringify(KINDS)}.map(benchVmName)));`;
  const run = Bun.spawnSync([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" });
  expect(run.stderr.toString()).toBe("");
  return JSON.parse(run.stdout.toString());
}

test("two benchmark runs name their VMs apart, and launch.sh takes the names", () => {
  const first = namesOfAnotherRun();
  const second = namesOfAnotherRun();
  expect(first).toHaveLength(KINDS.length);
  for (const [index, name] of first.entries()) {
    expect(name).not.toBe(second[index]);
    expect(name).toStartWith(KINDS[index]!);
  }
  // The longest kind with the longest pid this kernel hands out still fits launch.sh's 64 characters.
  const pidMax = Number(readFileSync("/proc/sys/kernel/pid_max", "utf8").trim());
  for (const name of namesOfAnotherRun(pidMax)) expect(name.length).toBeLessThanOrEqual(64);
  const dryRun = Bun.spawnSync(
    [join(REPO, "scripts/qemu/launch.sh"), "--dry-run", "--name", first[1]!, "--region", "none"],
    { stdout: "pipe", stderr: "pipe" },
  );
  expect({ code: dryRun.exitCode, stderr: dryRun.exitCode === 0 ? "" : dryRun.stderr.toString() }).toEqual({
    code: 0,
    stderr: "",
  });
});

// launch.sh's name locks are in the checkout (build/qemu/run), which two containers may share, and a
// container's processes get the same small pids in each: the pid alone named both runs' VMs alike.
test("two benchmark runs of the same pid (two pid namespaces) name their VMs apart", () => {
  const first = namesOfAnotherRun(7);
  const second = namesOfAnotherRun(7);
  for (const [index, name] of first.entries()) expect(name).not.toBe(second[index]);
});
