/**
 * An end that waits for its peer while the arbiter is gone (killed, being restarted) or stopped (SIGSTOP,
 * a frozen host) is waiting for the arbiter, not for the peer: its progress line says so, and what to do,
 * and goes back to the peer once the arbiter answers again. Real processes throughout.
 */
import { expect, test } from "bun:test";
import { execFileSync } from "node:child_process";
import { existsSync, rmSync, statSync } from "node:fs";
import { DEFAULT_RECONNECT_TIMEOUT_MS } from "../src/guest/connect-options.ts";
import { formatDuration } from "../src/units.ts";
import { CLI } from "./helpers/paths.ts";
import { eventually, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { clientEnv, outPath, randomFile } from "./helpers/transfer.ts";

const LEASE_MS = 2000;
/** A liveness bound for one change of the progress line; nothing here is timed more tightly. */
const SAID_WITHIN_MS = 15_000;
const suite = sharedArbiter("xaway", { lease: `${LEASE_MS}ms` });

/** What a stream has said so far, and up to where a test has read it. */
function transcript(stream: ReadableStream<Uint8Array>) {
  const said = { text: "", read: 0 };
  const decoder = new TextDecoder();
  (async () => {
    for await (const chunk of stream) said.text += decoder.decode(chunk, { stream: true });
  })();
  return said;
}

/** Waits until the stream says `text` after what was read so far (each change of the line is new text). */
async function says(said: ReturnType<typeof transcript>, text: string): Promise<void> {
  const found = () => said.text.indexOf(text, said.read);
  await eventually(
    async () => found() >= 0,
    SAID_WITHIN_MS,
    `'${text}' (it said: ${said.text.slice(said.read)})`,
  );
  said.read = found() + text.length;
}

/** `guest recv --out - --timeout TIMEOUT --progress` on `channel`, its progress lines on a pipe. */
function receiveToStdout(channel: string, timeout: string) {
  const args = ["guest", "recv", "--channel", channel, "--out", "-", "--timeout", timeout, "--progress"];
  return Bun.spawn([process.execPath, CLI, ...args], {
    env: { ...process.env, NO_COLOR: "1", ...clientEnv(suite.paths) },
    stdout: "ignore",
    stderr: "pipe",
  });
}

for (const role of ["send", "recv"] as const)
  test(`${role} waiting for its peer says it waits for the arbiter while that is gone or stopped`, async () => {
    const channel = `away-${role}`;
    const input = outPath(suite.paths, `${channel}.in`);
    await randomFile(input, 64 << 10);
    const args = role === "send" ? [input] : ["--out", outPath(suite.paths, `${channel}.out`)];
    const end = Bun.spawn(
      [process.execPath, CLI, "guest", role, ...args, "--channel", channel, "--progress"],
      {
        stdout: "ignore",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1", ...clientEnv(suite.paths) },
      },
    );
    try {
      const said = transcript(end.stderr);
      const peer = role === "send" ? "waiting for a receiver" : "waiting for a sender";
      await says(said, peer);
      await suite.arbiter.kill9();
      // Before, it went on saying "waiting for a sender" until it gave up 30 s later.
      await says(said, `waiting for the arbiter at ${suite.socket} to come back`);
      await suite.arbiter.restart();
      await says(said, peer);
      process.kill(suite.arbiter.pid, "SIGSTOP");
      try {
        await says(said, "which has stopped answering");
      } finally {
        process.kill(suite.arbiter.pid, "SIGCONT");
      }
      await says(said, peer);
      end.kill("SIGTERM");
      expect(await exitOrKill(end, SAID_WITHIN_MS)).toBe(143);
    } finally {
      end.kill("SIGKILL");
    }
  }, 90_000);

test("recv waiting while its socket accepts but never greets (a guest's bridge with no arbiter behind it): the line stays on the arbiter", async () => {
  // In a guest every reconnect attempt is accepted (QEMU's user-mode network starts a bridge, which then
  // finds no arbiter and closes): the line said "waiting for a sender" again during each attempt, then
  // "for the arbiter ... to come back", over and over (a VM trial). Here a listener stands in for the bridge.
  const end = Bun.spawn(
    [
      process.execPath,
      CLI,
      "guest",
      "recv",
      "--out",
      outPath(suite.paths, "bridge.out"),
      "--channel",
      "bridge",
      "--progress",
    ],
    { stdout: "ignore", stderr: "pipe", env: { ...process.env, NO_COLOR: "1", ...clientEnv(suite.paths) } },
  );
  try {
    const said = transcript(end.stderr);
    await says(said, "waiting for a sender");
    await suite.arbiter.kill9();
    rmSync(suite.socket, { force: true });
    const bridge = Bun.listen({
      unix: suite.socket,
      socket: { open: (socket) => void setTimeout(() => socket.end(), 700), data: () => {} },
    });
    try {
      await says(said, `waiting for the arbiter at ${suite.socket} to come back`);
      // Several attempts, each held open 700 ms; slowness only makes this check see fewer of them. An
      // open socket taken for the arbiter back showed either the peer again or, once the last answer was
      // half a lease old (here after 1 s), "which has stopped answering": neither may appear.
      await Bun.sleep(4000);
      expect(said.text.slice(said.read)).not.toMatch(/waiting for a sender|stopped answering/);
    } finally {
      bridge.stop(true);
    }
    rmSync(suite.socket, { force: true });
    await suite.arbiter.restart();
    await says(said, "waiting for a sender");
    end.kill("SIGTERM");
    expect(await exitOrKill(end, SAID_WITHIN_MS)).toBe(143);
  } finally {
    end.kill("SIGKILL");
  }
}, 90_000);

test("--timeout limits only the wait for the peer: an arbiter restarted mid-transfer, after the limit, ends nothing", async () => {
  const output = outPath(suite.paths, "restarted-mid-transfer");
  const receiver = Bun.spawn(
    [process.execPath, CLI, "guest", "recv", "--channel", "mid", "--out", output, "--timeout", "2s", "-q"],
    { env: { ...process.env, ...clientEnv(suite.paths) }, stderr: "pipe" },
  );
  const sender = Bun.spawn(
    [process.execPath, CLI, "guest", "send", "-", "--channel", "mid", "--timeout", "2s", "-q"],
    { env: { ...process.env, ...clientEnv(suite.paths) }, stdin: "pipe", stderr: "pipe" },
  );
  const piece = new Uint8Array(64 << 10).fill(7);
  sender.stdin.write(piece);
  await sender.stdin.flush();
  // Both there once the first piece is in the receiver's file; then well past the limit.
  const partial = `${output}.partial`;
  const firstPiece = async () => existsSync(partial) && statSync(partial).size >= piece.byteLength;
  await eventually(firstPiece, 30_000, "the first piece received");
  await Bun.sleep(2500);
  await suite.arbiter.kill9();
  await Bun.sleep(200); // both ends see the link down
  await suite.arbiter.restart();
  sender.stdin.write(piece);
  await sender.stdin.end();
  const [sent, received] = [await exitOrKill(sender, 30_000), await exitOrKill(receiver, 30_000)];
  const stderr = `${await new Response(sender.stderr).text()}${await new Response(receiver.stderr).text()}`;
  expect({ sent, received, stderr }).toEqual({ sent: 0, received: 0, stderr: "" });
  expect(Bun.file(output).size).toBe(2 * piece.byteLength);
}, 90_000); // its own sleeps alone take 2.7 s: bun's default of 5 s (bunfig's timeout is not read) is too short

// The README and `--help` say so: --timeout bounds the wait for the peer, but an arbiter that went away is
// waited for the client's reconnect timeout at most, however long --timeout is. A change to either side
// must change the other.
test("a --timeout longer than the reconnect timeout does not extend the wait for an arbiter that went away", async () => {
  const receiver = receiveToStdout("gone", "5m");
  try {
    const said = transcript(receiver.stderr);
    await says(said, "waiting for a sender");
    await suite.arbiter.kill9();
    const bound = DEFAULT_RECONNECT_TIMEOUT_MS + 30_000; // liveness only: it gives up well before 5 min
    expect(await exitOrKill(receiver, bound)).toBe(1);
    // Its last words may still be in the pipe when it has exited: waited for, not slept for.
    await says(said, `did not come back within ${formatDuration(DEFAULT_RECONNECT_TIMEOUT_MS)}`);
  } finally {
    receiver.kill("SIGKILL");
    await suite.arbiter.restart();
  }
}, 120_000);

// Found checking the README's --timeout: an end with --timeout 2s said "this end gives up after 30 s" while
// the arbiter was away, then gave up at its 2 s. The line names both limits. (A --timeout long enough that
// a loaded machine cannot reach it before the line is read: the line, not the giving up, is tested.)
test("an end with --timeout that waits while the arbiter is away names its --timeout beside the reconnect timeout", async () => {
  const receiver = receiveToStdout("limits", "5m");
  try {
    const said = transcript(receiver.stderr);
    await says(said, "waiting for a sender");
    await suite.arbiter.kill9();
    await says(
      said,
      `this end gives up after ${formatDuration(DEFAULT_RECONNECT_TIMEOUT_MS)}, or when its --timeout ${formatDuration(300_000)}`,
    );
  } finally {
    receiver.kill("SIGKILL");
    await suite.arbiter.restart();
  }
}, 90_000);

// Found in review: the line named --timeout in every wait, but it ends only the wait for the peer. A sender
// with --timeout whose receiver was there, waiting for its FIFO's writer, said it would give up "when its
// --timeout 2 s for the other end runs out" and did not.
test("an end with --timeout whose peer is there does not name its --timeout while the arbiter is away", async () => {
  const fifo = outPath(suite.paths, "away-fifo");
  execFileSync("mkfifo", [fifo]);
  const env = { ...process.env, NO_COLOR: "1", ...clientEnv(suite.paths) };
  const receiver = Bun.spawn([process.execPath, CLI, "guest", "recv", "--channel", "fifo", "--out", "-"], {
    env,
    stdout: "ignore",
    stderr: "ignore",
  });
  const sender = Bun.spawn(
    [process.execPath, CLI, "guest", "send", fifo, "--channel", "fifo", "--timeout", "5m", "--progress"],
    { env, stdout: "ignore", stderr: "pipe" },
  );
  try {
    const said = transcript(sender.stderr);
    await says(said, `waiting for a program to write to ${fifo}`);
    await suite.arbiter.kill9();
    await says(said, `waiting for the arbiter at ${suite.socket} to come back`);
    await says(said, ")..."); // the line's end
    const line = said.text.slice(said.text.lastIndexOf("waiting for the arbiter")).split("\n")[0];
    expect(line).toBe(
      `waiting for the arbiter at ${suite.socket} to come back (its connection closed: start \`ivsh host\` again; ` +
        `this end gives up after ${formatDuration(DEFAULT_RECONNECT_TIMEOUT_MS)}, or Ctrl-C)...`,
    );
  } finally {
    for (const end of [sender, receiver]) end.kill("SIGKILL");
    rmSync(fifo, { force: true });
    await suite.arbiter.restart();
  }
}, 90_000);

// Found in review: with the arbiter stopped (SIGSTOP, a frozen host) the line said only "resume or restart
// it, or Ctrl-C", and the end then gave up at its --timeout; the line names that --timeout too.
test("an end with --timeout waiting while the arbiter is stopped names its --timeout", async () => {
  const receiver = receiveToStdout("frozen", "5m");
  try {
    const said = transcript(receiver.stderr);
    await says(said, "waiting for a sender");
    process.kill(suite.arbiter.pid, "SIGSTOP");
    try {
      await says(
        said,
        `which has stopped answering (is it stopped or frozen? resume or restart it; this end gives up when its --timeout ${formatDuration(300_000)} for the other end runs out, or Ctrl-C)`,
      );
    } finally {
      process.kill(suite.arbiter.pid, "SIGCONT");
    }
  } finally {
    receiver.kill("SIGKILL");
  }
}, 90_000);
