/**
 * A library script that runs one end of a transfer with a limit on its wait for the peer (peerWaitMs),
 * catches the error when no peer came, and forgets close(), exits once its own work is done (README.md),
 * even while its arbiter is stopped (SIGSTOP, a frozen host: the link up, nothing answered). The end's
 * release (its ring's free, its slot's close, the role's give-up) is sent to an arbiter that answers none
 * of it, and nobody awaits it once the end has given up waiting for it (src/transfer/release-end.ts).
 */
import { afterEach, beforeEach, expect, test } from "bun:test";
import { closeSync, openSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, exitOrKill, spawnFixture } from "./helpers/processes.ts";
import { RECONNECT_MS, stopArbiter } from "./helpers/stopped-arbiter.ts";
import { guest, quietTransfer } from "./helpers/transfer.ts";

const LEASE_MS = 5000;
const PEER_WAIT_MS = 2000;
/** A liveness bound from the wait's limit and the lease, with a generous margin: never a speed. */
const BOUND_MS = PEER_WAIT_MS + 3 * LEASE_MS + 10_000;

let paths: TestPaths;
let arbiter: ArbiterProcess;
let input: string;
beforeEach(async () => {
  paths = testPaths("minor38-quitter");
  arbiter = await ArbiterProcess.start(paths, { lease: `${LEASE_MS}ms` });
  input = join(paths.dir, "input");
  writeFileSync(input, "hello\n");
});
afterEach(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

for (const role of ["send", "recv"] as const)
  test(`a library ${role} whose peer never came, its arbiter stopped, caught without close(): the script exits`, async () => {
    const config = {
      role,
      channel: `quit-${role}`,
      input,
      output: join(paths.dir, `${role}.out`),
      peerWaitMs: PEER_WAIT_MS,
      reconnectTimeoutMs: RECONNECT_MS,
    };
    const script = spawnFixture("stream-quitter", clientConfig(paths, config));
    let stopped: { resume(): void } | undefined;
    try {
      await script.events.next("waiting", BOUND_MS);
      stopped = stopArbiter(arbiter);
      expect(await script.events.next("caught", BOUND_MS)).toMatchObject({ code: expect.any(String) });
      // Before: late: the end's release, unanswered, held its connection, and the process, until the
      // arbiter answered again (or the reconnect timeout, 120 s here).

      expect(await exitOrKill(script.proc, BOUND_MS)).toBe(0);
    } finally {
      stopped?.resume();
      script.proc.kill("SIGKILL");
    }
    // Continued, the arbiter has the end's release (or its goodbye): the channel works again.
    const out = join(paths.dir, "after.out");
    const { receiver, sender } = quietTransfer(paths, config.channel, input, out);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
  }, 120_000);

for (const [gate, what] of [
  ["start", "its channel's open"],
  ["ring", "its ring's alloc"],
] as const)
  test(`a library send whose arbiter stops before ${what}, never answered, caught without close(): the script exits`, async () => {
    const config = { role: "send", channel: `quit-${gate}`, input, gate, peerWaitMs: PEER_WAIT_MS };
    const script = spawnFixture(
      "stream-quitter",
      clientConfig(paths, { ...config, reconnectTimeoutMs: RECONNECT_MS }),
    );
    let stopped: { resume(): void } | undefined;
    try {
      await script.events.next("gated", BOUND_MS);
      stopped = stopArbiter(arbiter);
      script.proc.stdin.write("go\n");
      await script.proc.stdin.flush();
      expect(await script.events.next("caught", BOUND_MS)).toMatchObject({ code: "ArbiterUnreachable" });
      // Before: late: the request, unanswered and given up on at the wait's limit, held the process.
      expect(await exitOrKill(script.proc, BOUND_MS)).toBe(0);
    } finally {
      stopped?.resume();
      script.proc.kill("SIGKILL");
    }
  }, 120_000);

test("a library send its own signal ends while its receiver is stopped and its arbiter too, caught without close(): the script exits", async () => {
  // A FIFO: the sender has its receiver, and waits for its input, until the test writes it.
  const fifo = join(paths.dir, "input.fifo");
  expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
  const channel = "quit-abort";
  const receiver = guest(paths, ["recv", "-q", "--channel", channel, "--out", join(paths.dir, "abort.out")]);
  const config = { role: "send", channel, input: fifo, gate: "abort", reconnectTimeoutMs: RECONNECT_MS };
  const script = spawnFixture("stream-quitter", clientConfig(paths, config));
  let stopped: { resume(): void } | undefined;
  try {
    for (;;) {
      const { what } = await script.events.next("waiting", BOUND_MS);
      if (String(what).includes("a FIFO")) break; // its receiver joined
    }
    receiver.proc.kill("SIGSTOP");
    stopped = stopArbiter(arbiter);
    const writer = openSync(fifo, "w");
    writeSync(writer, "hello\n");
    closeSync(writer);
    // The stream sent, it waits for the stopped receiver's verdict, parked, asking where its receiver runs.
    await script.events.next("waiting", BOUND_MS); // for the receiver to confirm
    await Bun.sleep(500);
    script.proc.stdin.write("go\n");
    await script.proc.stdin.flush();
    expect(await script.events.next("caught", BOUND_MS)).toMatchObject({ code: "Interrupted" });
    // Before: late: the status the park asked (is the receiver in another VM?), awaited by nobody.
    expect(await exitOrKill(script.proc, BOUND_MS)).toBe(0);
  } finally {
    stopped?.resume();
    script.proc.kill("SIGKILL");
    receiver.proc.kill("SIGKILL");
  }
}, 120_000);
