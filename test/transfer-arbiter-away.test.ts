/**
 * An end that waits for its peer while the arbiter is gone (killed, being restarted) or stopped (SIGSTOP,
 * a frozen host) is waiting for the arbiter, not for the peer: its progress line says so, and what to do,
 * and goes back to the peer once the arbiter answers again. Real processes throughout.
 */
import { afterAll, beforeAll, beforeEach, expect, test } from "bun:test";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, exitOrKill } from "./helpers/processes.ts";
import { clientEnv, outPath, randomFile } from "./helpers/transfer.ts";

const LEASE_MS = 2000;
/** A liveness bound for one change of the progress line; nothing here is timed more tightly. */
const SAID_WITHIN_MS = 15_000;
let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("xaway");
  arbiter = await ArbiterProcess.start(paths, { lease: `${LEASE_MS}ms` });
});
beforeEach(() => arbiter.revive());
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

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

for (const role of ["send", "recv"] as const)
  test(`${role} waiting for its peer says it waits for the arbiter while that is gone or stopped`, async () => {
    const channel = `away-${role}`;
    const input = outPath(paths, `${channel}.in`);
    await randomFile(input, 64 << 10);
    const args = role === "send" ? [input] : ["--out", outPath(paths, `${channel}.out`)];
    const end = Bun.spawn(
      [process.execPath, CLI, "guest", role, ...args, "--channel", channel, "--progress"],
      {
        stdout: "ignore",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1", ...clientEnv(paths) },
      },
    );
    try {
      const said = transcript(end.stderr);
      const peer = role === "send" ? "waiting for a receiver" : "waiting for a sender";
      await says(said, peer);
      await arbiter.kill9();
      // Before, it went on saying "waiting for a sender" until it gave up 30 s later.
      await says(said, `waiting for the arbiter at ${paths.socket} to come back`);
      await arbiter.restart();
      await says(said, peer);
      process.kill(arbiter.pid, "SIGSTOP");
      try {
        await says(said, "which has stopped answering");
      } finally {
        process.kill(arbiter.pid, "SIGCONT");
      }
      await says(said, peer);
      end.kill("SIGTERM");
      expect(await exitOrKill(end, SAID_WITHIN_MS)).toBe(143);
    } finally {
      end.kill("SIGKILL");
    }
  }, 90_000);
