/**
 * An end waiting for its peer, nothing transferred yet, stopped (Ctrl-Z, SIGSTOP) until the arbiter expired
 * its session, then continued (fg, SIGCONT), goes on waiting on a new session and completes the transfer
 * once its peer comes. It gave up with "no heartbeat arrived for N ms (lease expired)" though nothing was
 * lost; an idle `send -` went on reading its stdin with the dead session and failed at its first byte. A
 * sender that arrives while the receiver is stopped waits for it, and nothing is left held in the
 * arbiter afterwards. Real processes throughout.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fetchStatus } from "../src/guest/inspect.ts";
import { CLI } from "./helpers/paths.ts";
import { eventually, exitOrKill, livenessBoundMs } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testWithTool } from "./helpers/tools.ts";
import {
  clientEnv,
  guest,
  guestSaying,
  idleEnd,
  outPath,
  randomFile,
  sameBytes,
} from "./helpers/transfer.ts";

/** The shortest lease, so the stopped end's session expires soon; every bound below derives from it. */
const LEASE_MS = 1000;
const suite = sharedArbiter("end-renewed", { lease: `${LEASE_MS}ms` });
/** Liveness bounds, nothing tighter: the expiry, a new session, a transfer of a few chunks. */
const WITHIN_MS = livenessBoundMs(LEASE_MS);
/** Far beyond the test, yet a limit: the renewed wait keeps one. */
const TIMEOUT = "120s";

/** Whether the arbiter still has a session for process `pid`. */
async function hasSession(pid: number): Promise<boolean> {
  const { report } = await fetchStatus({ unix: suite.socket });
  return report.clients.some((client) => client.pid === pid);
}

/**
 * Stops `pid` until the arbiter has expired its session, then continues it. An end that had exited by then
 * is said with its words (`said`): once, in a loop at load ~3, the "-q" end was gone (ESRCH at SIGCONT) and
 * nothing told why.
 */
async function stopPastLease(pid: number, said?: { text: string }): Promise<void> {
  process.kill(pid, "SIGSTOP");
  const expiring = eventually(
    async () => !(await hasSession(pid)),
    WITHIN_MS,
    "the stopped end's session expiring",
  );
  const failed = await expiring.then(
    () => undefined,
    (error: unknown) => error,
  );
  try {
    process.kill(pid, "SIGCONT");
  } catch (error) {
    const words = said ? `; it said ${JSON.stringify(said.text)}` : "";
    throw new Error(`the end (pid ${pid}) had exited before it was continued${words}`, { cause: error });
  }
  if (failed) throw failed;
}

/**
 * Nothing of either end is left in the arbiter: no session, ring segment or channel slot (once their
 * goodbyes, sent as they exit, are read: awaited within the bound, then the report is what is checked).
 */
async function nothingHeld(): Promise<void> {
  const held = async () => {
    const { report } = await fetchStatus({ unix: suite.socket });
    // Our own status request has a session too: the report names it as the requester.
    const clients = report.clients.filter((client) => client.clientId !== report.requester?.clientId);
    return { clients: clients.length, segments: report.segments, sync: report.sync };
  };
  const none = { clients: 0, segments: [], sync: [] };
  const empty = async () => JSON.stringify(await held()) === JSON.stringify(none);
  await eventually(empty, WITHIN_MS, "everything released").catch(() => {});
  expect(await held()).toEqual(none);
}

const renewed = "waits again on a new session";

test("recv stopped past its lease while waiting for a sender goes on waiting, and receives", async () => {
  const channel = "renewed-recv";
  const { proc, said } = idleEnd(suite.paths, "recv", channel, TIMEOUT);
  const input = join(suite.dir, `${channel}.in`);
  await randomFile(input, 300_000);
  try {
    await eventually(async () => said.text.includes("waiting for a sender"), WITHIN_MS, "recv waiting");
    await stopPastLease(proc.pid, said);
    await eventually(async () => said.text.includes(renewed), WITHIN_MS, "recv renewing its session");
    const sender = guest(suite.paths, ["send", "-q", input, "--channel", channel]);
    // Before: the receiver exited 1, "... no heartbeat arrived for 1000 ms (lease expired) ...".
    expect([await exitOrKill(proc, WITHIN_MS), await sender.exit()]).toEqual([0, 0]);
    expect(said.text).not.toContain("lease expired");
    await nothingHeld();
  } finally {
    proc.kill("SIGKILL");
  }
}, 60_000);

test("send - stopped past its lease while waiting for a receiver goes on waiting, and sends", async () => {
  const channel = "renewed-send";
  const { proc, said } = idleEnd(suite.paths, "send", channel, TIMEOUT);
  const output = outPath(suite.paths, `${channel}.out`);
  try {
    await eventually(async () => said.text.includes("waiting for a receiver"), WITHIN_MS, "send waiting");
    await stopPastLease(proc.pid, said);
    await eventually(async () => said.text.includes(renewed), WITHIN_MS, "send renewing its session");
    const receiver = guest(suite.paths, ["recv", "-q", "--channel", channel, "--out", output]);
    const data = new Uint8Array(200_000).fill(7);
    proc.stdin.write(data);
    await proc.stdin.end();
    // Before: the sender went on reading stdin with its dead session and said "lease expired" at its first byte.
    expect([await exitOrKill(proc, WITHIN_MS), await receiver.exit()]).toEqual([0, 0]);
    expect(sameBytes(readFileSync(output), data)).toBe(true);
    expect(said.text).not.toContain("lease expired");
    await nothingHeld();
  } finally {
    proc.kill("SIGKILL");
  }
}, 60_000);

test("send FILE stopped past its lease with its ring filled, no receiver yet, goes on waiting, and sends it whole", async () => {
  const channel = "renewed-file";
  const input = join(suite.dir, `${channel}.in`);
  // Larger than the ring (8 MiB for a file): the sender fills it, then waits for a receiver to drain it.
  const data = await randomFile(input, 12 << 20);
  const output = outPath(suite.paths, `${channel}.out`);
  const sender = guestSaying(suite.paths, [
    "send",
    input,
    "--channel",
    channel,
    "--progress",
    "--timeout",
    TIMEOUT,
  ]);
  const { said } = sender;
  try {
    await eventually(async () => said.text.includes("waiting for a receiver"), WITHIN_MS, "send waiting");
    await stopPastLease(sender.proc.pid);
    await eventually(async () => said.text.includes(renewed), WITHIN_MS, "send renewing its session");
    const receiver = guest(suite.paths, ["recv", "-q", "--channel", channel, "--out", output]);
    // Before: the sender exited 1, "... no heartbeat arrived for 1000 ms (lease expired) ...". The file is
    // read again from its start on the new session: the first 8 MiB went into the expired session's ring.
    expect([await exitOrKill(sender.proc, WITHIN_MS), await receiver.exit()]).toEqual([0, 0]);
    expect(sameBytes(readFileSync(output), data)).toBe(true);
    await nothingHeld();
  } finally {
    sender.proc.kill("SIGKILL");
  }
}, 60_000);
test("a sender that arrives while the receiver is stopped past its lease waits for it, and the transfer completes", async () => {
  const channel = "renewed-arrival";
  const { proc, said } = idleEnd(suite.paths, "recv", channel, TIMEOUT);
  const input = join(suite.dir, `${channel}.in`);
  await randomFile(input, 300_000);
  let sender: ReturnType<typeof guest> | undefined;
  try {
    await eventually(async () => said.text.includes("waiting for a sender"), WITHIN_MS, "recv waiting");
    process.kill(proc.pid, "SIGSTOP");
    try {
      sender = guest(suite.paths, ["send", "-q", input, "--channel", channel]);
      const ring = async () =>
        (await fetchStatus({ unix: suite.socket })).report.segments.some((segment) =>
          segment.name.startsWith(`channel:${channel}:`),
        );
      await eventually(ring, WITHIN_MS, "the sender's ring published");
      await eventually(
        async () => !(await hasSession(proc.pid)),
        WITHIN_MS,
        "the receiver's session expiring",
      );
    } finally {
      process.kill(proc.pid, "SIGCONT");
    }
    // Before the renewal: the receiver exited 1 ("lease expired"). Before the receiver confirmed its lease
    // ahead of joining, now and then the sender failed: "the receiver (client N) went away before the end".
    expect([await exitOrKill(proc, WITHIN_MS), await sender.exit()]).toEqual([0, 0]);
    expect(said.text).toContain(renewed);
    await nothingHeld();
  } finally {
    proc.kill("SIGKILL");
    sender?.proc.kill("SIGKILL");
  }
}, 60_000);

test("a receiver that arrives while the sender is stopped past its lease waits for it, and the transfer completes", async () => {
  const channel = "renewed-late-receiver";
  const input = join(suite.dir, `${channel}.in`);
  // Larger than the ring, so its end record is not out yet: a sender whose whole stream is in its ring
  // cannot start over (a receiver may have kept it unseen: test/transfer-end-kept-unseen.test.ts).
  const data = await randomFile(input, 12 << 20);
  const output = outPath(suite.paths, `${channel}.out`);
  const sender = guestSaying(suite.paths, [
    "send",
    input,
    "--channel",
    channel,
    "--progress",
    "--timeout",
    TIMEOUT,
  ]);
  const { said } = sender;
  let receiver: ReturnType<typeof guest> | undefined;
  try {
    await eventually(async () => said.text.includes("waiting for a receiver"), WITHIN_MS, "send waiting");
    process.kill(sender.proc.pid, "SIGSTOP");
    try {
      await eventually(
        async () => !(await hasSession(sender.proc.pid)),
        WITHIN_MS,
        "the sender's session expiring",
      );
      // The expired sender's ring and slot are released: the receiver finds no transfer, and waits.
      receiver = guest(suite.paths, ["recv", "-q", "--channel", channel, "--out", output]);
      const waiting = async () => (await fetchStatus({ unix: suite.socket })).report.sync.length === 1;
      await eventually(waiting, WITHIN_MS, "the receiver waiting on the channel");
    } finally {
      process.kill(sender.proc.pid, "SIGCONT");
    }
    // Before: the sender exited 1 ("lease expired"), and the receiver waited on for a sender.
    expect([await exitOrKill(sender.proc, WITHIN_MS), await receiver.exit()]).toEqual([0, 0]);
    expect(sameBytes(readFileSync(output), data)).toBe(true);
    await nothingHeld();
  } finally {
    sender.proc.kill("SIGKILL");
    receiver?.proc.kill("SIGKILL");
  }
}, 60_000);

testWithTool(
  "script",
  "on a terminal, the notice that the end waits again starts a line of its own, not the progress line's end",
  async () => {
    const channel = "renewed-terminal";
    const input = join(suite.dir, `${channel}.in`);
    await randomFile(input, 300_000);
    const pidFile = join(suite.dir, `${channel}.pid`);
    // The shell script runs in execs the receiver: its pid is the one to stop. A POSIX shell's, whatever the
    // caller's login shell ($SHELL, which script(1) runs) is: fish has no $$.
    const recv = `'${process.execPath}' '${CLI}' guest recv --channel ${channel} --out /dev/null --timeout ${TIMEOUT}`;
    const terminal = tracked(
      Bun.spawn(["script", "-qec", `echo $$ > '${pidFile}'; exec ${recv}`, "/dev/null"], {
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1", SHELL: "/bin/sh", ...clientEnv(suite.paths) },
      }),
    );
    const shown = { text: "" };
    (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of terminal.stdout) shown.text += decoder.decode(chunk, { stream: true });
    })();
    try {
      await eventually(async () => shown.text.includes("waiting for a sender"), WITHIN_MS, "recv waiting");
      await stopPastLease(Number(readFileSync(pidFile, "utf8")));
      // script(1) stops itself when its child stops (job control), and copies nothing more until continued.
      terminal.kill("SIGCONT");
      await eventually(async () => shown.text.includes(renewed), WITHIN_MS, "recv renewing its session");
      const sender = guest(suite.paths, ["send", "-q", input, "--channel", channel]);
      expect([await exitOrKill(terminal, WITHIN_MS), await sender.exit()]).toEqual([0, 0]);
      const notice = shown.text.split(/[\r\n]/).find((line) => line.includes(renewed));
      // Before: "recv /dev/null: waiting for a sender on channel '...'...[ivsh] ℹ this end was stopped ...".
      expect(notice?.replaceAll("\x1b[2K", "")).toStartWith("[ivsh]");
    } finally {
      terminal.kill("SIGKILL");
    }
  },
  60_000,
);

test("with -q, an end that waits again on a new session says nothing (-q prints only warnings and errors)", async () => {
  const channel = "renewed-quiet";
  const input = join(suite.dir, `${channel}.in`);
  await randomFile(input, 300_000);
  const { proc, said } = guestSaying(suite.paths, [
    "recv",
    "-q",
    "--channel",
    channel,
    "--out",
    "/dev/null",
    "--timeout",
    TIMEOUT,
  ]);
  try {
    // No progress line to wait for: the channel's slot, which it opens once connected, shows it waits. Its
    // session alone did not: stopped before its hello's answer was read, it failed 'lease expired' (6 of 108
    // runs at load 8 to 13), as an end stopped while it connects does; only a wait starts over.
    const slotOpen = async () =>
      (await fetchStatus({ unix: suite.socket })).report.sync.some(
        (slot) => slot.name === `channel:${channel}`,
      );
    await eventually(slotOpen, WITHIN_MS, "recv waiting on the channel");
    await stopPastLease(proc.pid, said);
    await eventually(async () => hasSession(proc.pid), WITHIN_MS, "recv on a new session");
    const sender = guest(suite.paths, ["send", "-q", input, "--channel", channel]);
    expect([await exitOrKill(proc, WITHIN_MS), await sender.exit()]).toEqual([0, 0]);
    // Before: "[ivsh] ℹ this end was stopped longer than the arbiter's 1 s lease, ... waits again ...".
    expect(said.text).toBe("");
  } finally {
    proc.kill("SIGKILL");
  }
}, 60_000);

test("recv on a new session is watched as the first was: an arbiter stopped then is named on its progress line", async () => {
  const channel = "renewed-watched";
  const { proc, said } = idleEnd(suite.paths, "recv", channel, TIMEOUT);
  try {
    await eventually(async () => said.text.includes("waiting for a sender"), WITHIN_MS, "recv waiting");
    await stopPastLease(proc.pid, said);
    await eventually(async () => said.text.includes(renewed), WITHIN_MS, "recv renewing its session");
    // Said before the new session's hello, and the line is watched only once that is answered: an arbiter
    // stopped in between (a loaded machine, once in 2 runs at load 10) left nothing watching it.
    await eventually(async () => hasSession(proc.pid), WITHIN_MS, "recv on a new session");
    const before = said.text.length;
    // Nothing answers for half a lease: the line says so (the first session's watch, stopped, no longer can).
    process.kill(suite.arbiter.pid, "SIGSTOP");
    try {
      await eventually(
        async () => said.text.includes("which has stopped answering", before),
        WITHIN_MS,
        "the progress line naming the stopped arbiter",
      );
    } finally {
      process.kill(suite.arbiter.pid, "SIGCONT");
    }
  } finally {
    proc.kill("SIGKILL");
  }
}, 60_000);

/** The lines of process `pid`'s memory map that map the region file. */
function regionMappings(pid: number): number {
  const maps = readFileSync(`/proc/${pid}/maps`, "utf8");
  return maps.split("\n").filter((line) => line.endsWith(` ${suite.paths.region}`)).length;
}

test("an end that waits again on a new session lets go of the expired one: its mappings of the region are not doubled", async () => {
  const channel = "renewed-unmapped";
  const { proc, said } = idleEnd(suite.paths, "recv", channel, TIMEOUT);
  try {
    await eventually(async () => said.text.includes("waiting for a sender"), WITHIN_MS, "recv waiting");
    const before = regionMappings(proc.pid);
    await stopPastLease(proc.pid, said);
    await eventually(async () => said.text.includes(renewed), WITHIN_MS, "recv renewing its session");
    await eventually(async () => hasSession(proc.pid), WITHIN_MS, "recv on a new session");
    // Before: the expired client was never closed, and kept its whole mapping of the region.
    expect({ before: before > 0, after: regionMappings(proc.pid) }).toEqual({ before: true, after: before });
  } finally {
    proc.kill("SIGKILL");
  }
}, 60_000);
