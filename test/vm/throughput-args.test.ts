/**
 * scripts/qemu/throughput.sh's options, checked before anything starts: a bad --size or --runs was found
 * only once an arbiter ran and a VM had booted (a --runs that is no number measured nothing and said
 * nothing; --size 0 divided by zero in the guest), and an option without its value failed with bash's
 * "$2: unbound variable". Each run passes launch.sh an unknown option after `--`: had the script got as
 * far as launching, launch.sh's own refusal (exit 125) would show it.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { REPO } from "../helpers/paths.ts";

const THROUGHPUT = join(REPO, "scripts/qemu/throughput.sh");

async function throughput(...options: string[]): Promise<{ code: number; stderr: string }> {
  const proc = Bun.spawn(["bash", THROUGHPUT, ...options], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  const [code, stderr] = await Promise.all([proc.exited, new Response(proc.stderr).text()]);
  return { code, stderr };
}

test.each([
  [["--runs", "abc"], "--runs 'abc'"],
  [["--runs", "0"], "--runs '0'"],
  [["--size", "0"], "--size '0'"],
  [["--size", "lots"], "--size 'lots'"],
])("throughput.sh %p is refused before anything starts, naming %s", async (options, named) => {
  const { code, stderr } = await throughput(...options, "--", "--not-a-launch-option");
  expect(stderr).toContain(`throughput.sh: error: ${named}`);
  expect(stderr).not.toContain("launch.sh");
  expect(code).toBe(2);
});

test.each(["--size", "--runs", "--ivsh"])("throughput.sh %s without its value says so", async (option) => {
  const { code, stderr } = await throughput(option);
  expect(stderr).toContain(`throughput.sh: error: ${option} needs a value`);
  expect(code).toBe(2);
});
