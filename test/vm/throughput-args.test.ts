/**
 * scripts/qemu/throughput.sh's options, checked before anything starts: a bad --size or --runs was found
 * only once an arbiter ran and a VM had booted (a --runs that is no number measured nothing and said
 * nothing; --size 0 divided by zero in the guest), and an option without its value failed with bash's
 * "$2: unbound variable". Each run passes launch.sh an unknown option after `--`: had the script got as
 * far as launching, launch.sh's own refusal (exit 125) would show it. That refusal also ends a run whose
 * arbiter started, without a VM: what the arbiter told NOTIFY_SOCKET meanwhile.
 */
import { expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { join } from "node:path";
import { bindDatagramSocket, receiveWithFd } from "../../src/ffi/fd-passing.ts";
import { closeFd } from "../../src/ffi/index.ts";
import { REPO } from "../helpers/paths.ts";
import { BINARY, ensureBinary } from "./vm.ts";

const THROUGHPUT = join(REPO, "scripts/qemu/throughput.sh");

async function throughput(...options: string[]): Promise<{ code: number; stderr: string }> {
  return throughputWith({}, ...options);
}

async function throughputWith(
  env: Record<string, string>,
  ...options: string[]
): Promise<{ code: number; stderr: string }> {
  const proc = Bun.spawn(["bash", THROUGHPUT, ...options], {
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, ...env },
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

/**
 * Run by a systemd unit (Type=notify), the script's private arbiter inherited NOTIFY_SOCKET and told the
 * caller's unit READY=1 and, stopped at the end, STOPPING=1. Here it starts, then launch.sh refuses an
 * unknown option (125) and the cleanup stops the arbiter: the datagrams are queued by the time the script
 * has exited (it waits for the arbiter), had any been sent.
 */
test("throughput.sh's arbiter tells the caller's service manager nothing (NOTIFY_SOCKET not passed on)", async () => {
  await ensureBinary();
  const dir = mkdtempSync("/tmp/ivsh-test-throughput-notify-");
  const notifySocket = join(dir, "notify.sock");
  const listening = bindDatagramSocket(notifySocket);
  try {
    const options = ["--size", "4096", "--ivsh", BINARY, "--", "--not-a-launch-option"];
    const { code, stderr } = await throughputWith({ NOTIFY_SOCKET: notifySocket }, ...options);
    expect({ code, stderr }).toEqual({ code: 125, stderr: expect.stringContaining("--not-a-launch-option") });
    // Before: "READY=1\nMAINPID=...\nSTATUS=serving ...".
    const datagram = receiveWithFd(listening, notifySocket);
    expect(datagram && new TextDecoder().decode(datagram.payload)).toBeUndefined();
  } finally {
    closeFd(listening);
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
