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

/** An arbiter that could not start was reported only by its own log, and after a 10 s wait for nothing. */
test("throughput.sh with a --ivsh that does not run says the arbiter did not start", async () => {
  const { code, stderr } = await throughput("--size", "4096", "--ivsh", "/nonexistent/ivsh", "--", "--x");
  expect(stderr).toContain("throughput.sh: error: the arbiter ('/nonexistent/ivsh host') did not start");
  expect(stderr).toContain("/nonexistent/ivsh: No such file or directory");
  expect(code).toBe(1);
});
