/**
 * A transfer whose arbiter is killed mid-stream: both ends finish the verified copy whether it stays gone
 * or comes back within the lease, and Ctrl-C while an end waits for it to take the release.
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { fetchStatus } from "../src/guest/inspect.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, livenessBoundMs } from "./helpers/processes.ts";
import { guest, outPath, randomFile, sameBytes, waitForSize } from "./helpers/transfer.ts";

/** The lease the waits' liveness bounds are counted from (as in transfer-faults.test.ts, where these were). */
const LEASE_MS = 5000;

/**
 * A 4 MiB piped transfer on an arbiter of its own, killed with SIGKILL after the first MiB arrived; then
 * `afterKill`, the rest of the input, and both ends' exits. Resolves with the time from the kill to both
 * exits; the copy must be bit-exact.
 */
async function acrossArbiterDeath(
  label: string,
  leaseMs: number,
  afterKill: (host: ArbiterProcess, own: TestPaths) => Promise<void>,
  check: (own: TestPaths) => Promise<void> = async () => {},
): Promise<number> {
  const own = testPaths(label);
  const host = await ArbiterProcess.start(own, { size: "16MiB", lease: `${leaseMs}ms` });
  try {
    const input = join(own.dir, "input");
    await randomFile(input, 4 << 20);
    const bytes = new Uint8Array(await Bun.file(input).arrayBuffer());
    const out = outPath(own, "away.out");
    const receiver = guest(own, ["recv", "--out", out]);
    const sender = guest(own, ["send", "-", "--chunk-size", "64KiB"]);
    sender.proc.stdin.write(bytes.subarray(0, 1 << 20));
    await sender.proc.stdin.flush();
    await waitForSize(`${out}.partial`, 1 << 20);
    await host.kill9();
    const killedAt = performance.now();
    sender.proc.stdin.write(bytes.subarray(1 << 20));
    await sender.proc.stdin.end();
    await afterKill(host, own);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    const tookMs = performance.now() - killedAt;
    expect(sameBytes(new Uint8Array(await Bun.file(out).arrayBuffer()), bytes)).toBe(true);
    await check(own);
    return tookMs;
  } finally {
    await host.stop();
    own.cleanup();
  }
}

test("the arbiter killed mid-transfer, never back: both ends finish the verified copy without waiting out a reconnect", async () => {
  // Long enough that a loaded machine's stall does not freeze a client; the fix (ends within a lease of
  // the arbiter's going) still reads apart from the 25–30 s it took without it.
  const leaseMs = 3000;
  const tookMs = await acrossArbiterDeath("xfault-away", leaseMs, async () => {});
  // Their release waits a lease for the arbiter's return, not the 30 s reconnect timeout.
  expect(tookMs).toBeLessThan(livenessBoundMs(leaseMs));
}, 60_000);

test("the arbiter killed mid-transfer and restarted within the lease: the ends' release reaches it, the ring is free", async () => {
  // A lease no restart on a loaded machine outlasts: the ends wait for it to release what they held.
  await acrossArbiterDeath(
    "xfault-back",
    10_000,
    (host) => host.restart(),
    async (own) => {
      const { report } = await fetchStatus({ unix: own.socket });
      expect(report.segments).toEqual([]);
    },
  );
}, 60_000);

test("Ctrl-C while an end waits for an absent arbiter to take its release: it exits at once, its copy kept", async () => {
  const own = testPaths("xfault-interrupt");
  // A lease far longer than the bound below: only the interrupt can end the receiver's wait in time.
  const host = await ArbiterProcess.start(own, { size: "16MiB", lease: "30s" });
  const out = outPath(own, "kept.out");
  const receiver = guest(own, ["recv", "--out", out]);
  const sender = guest(own, ["send", "-", "--chunk-size", "64KiB"]);
  try {
    const bytes = new Uint8Array(2 << 20).fill(9);
    sender.proc.stdin.write(bytes.subarray(0, 1 << 20));
    await sender.proc.stdin.flush();
    await waitForSize(`${out}.partial`, 1 << 20);
    await host.kill9();
    sender.proc.stdin.write(bytes.subarray(1 << 20));
    await sender.proc.stdin.end();
    // The copy is kept under its name before the receiver releases its ring: from then on it waits.
    await eventually(async () => Bun.file(out).exists(), livenessBoundMs(LEASE_MS), "the copy kept");
    receiver.proc.kill("SIGINT");
    expect(await receiver.exit(livenessBoundMs(LEASE_MS))).toBe(0);
    expect(sameBytes(new Uint8Array(await Bun.file(out).arrayBuffer()), bytes)).toBe(true);
  } finally {
    sender.proc.kill("SIGKILL");
    await host.stop();
    own.cleanup();
  }
}, 60_000);
