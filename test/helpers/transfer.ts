/** Helpers for transfer tests: random files, and `ivsh guest send/recv` processes aimed at one arbiter. */
import { expect } from "bun:test";
import { join } from "node:path";
import type { Client } from "../../src/guest/index.ts";
import { ChannelWord, channelSlotName } from "../../src/region/layout.ts";
import { formatted, recordsOf, referenceDigest } from "./digest.ts";
import { CLI, type TestPaths } from "./paths.ts";
import { EXIT_BOUND_MS, eventually, type Spawned, spawnBun } from "./processes.ts";
import { tracked } from "./reaper.ts";

export async function randomFile(path: string, bytes: number): Promise<Uint8Array> {
  const data = new Uint8Array(bytes);
  for (let offset = 0; offset < bytes; offset += 65536)
    crypto.getRandomValues(data.subarray(offset, Math.min(bytes, offset + 65536)));
  await Bun.write(path, data);
  return data;
}

export function clientEnv(paths: TestPaths): Record<string, string> {
  return { IVSH_SOCKET: paths.socket, IVSH_REGION: paths.region };
}

export function guest(paths: TestPaths, args: string[], env: Record<string, string> = {}): Spawned {
  return spawnBun([CLI, "guest", ...args], { ...clientEnv(paths), ...env });
}

/**
 * `guest recv -q --out OUT ...extra` and `guest send -q INPUT` (`-`: its stdin) on `channel`, each with a
 * 20 s timeout; the receiver started first.
 */
export function quietTransfer(
  paths: TestPaths,
  channel: string,
  input: string,
  out: string,
  extra: string[] = [],
) {
  const timeout = ["--timeout", "20s"];
  const receiver = guest(paths, ["recv", "-q", "--channel", channel, "--out", out, ...timeout, ...extra]);
  const sender = guest(paths, ["send", "-q", "--channel", channel, input, ...timeout]);
  return { receiver, sender };
}

/**
 * `guest send -` fed a 64 KiB piece every 20 ms, and its `recv --out /dev/null`: a transfer that stays in
 * progress until `end()`, which stops the feed and resolves with both exit codes [sender, receiver].
 * `senderArgs`: more for the sender (`--connect ADDRESS`: a guest's, through a stand-in guestfwd).
 */
export function tricklingTransfer(paths: TestPaths, channel: string, senderArgs: string[] = []) {
  const receiver = guest(paths, ["recv", "--channel", channel, "--out", "/dev/null"]);
  const sender = guest(paths, ["send", "-", "--channel", channel, "--chunk-size", "64KiB", ...senderArgs]);
  const piece = new Uint8Array(64 << 10).fill(1);
  let feeding = true;
  const feeder = (async () => {
    try {
      while (feeding) {
        // Awaited: a write the pipe did not take at once is a promise, its EPIPE a rejection.
        await sender.proc.stdin.write(piece);
        await sender.proc.stdin.flush();
        await Bun.sleep(20);
      }
      await sender.proc.stdin.end();
    } catch (error) {
      // The sender ended on its own (its receiver killed, its arbiter gone): its exit code tells how.
      if ((error as NodeJS.ErrnoException).code !== "EPIPE") throw error;
    }
  })();
  return {
    sender,
    receiver,
    async end(): Promise<number[]> {
      feeding = false;
      // Bounded by the exits: a sender that stopped reading leaves the feeder's write pending for ever, and
      // its exit's bound then says what it was doing.
      const [senderCode, receiverCode] = await Promise.all([sender.exit(), receiver.exit(), feeder]);
      return [senderCode, receiverCode];
    },
  };
}

/**
 * Until a receiver has joined the transfer on `channel`, read from the slot's words as `observer` maps them.
 * A transfer is listed (and counted) once its sender publishes it, which can be before its receiver has
 * even connected: killed or restarted under it then, the arbiter refuses the receiver's first connect, or a
 * receiver killed before joining leaves its sender waiting for the next one (both rightly).
 */
export async function receiverJoined(observer: Client, channel: string): Promise<void> {
  const { sync } = await observer.status(1000);
  const slot = sync.find((each) => each.name === channelSlotName(channel))?.slot;
  if (slot === undefined) throw new Error(`no slot for channel '${channel}' in the arbiter's status`);
  const words = observer.slotWords(slot);
  await eventually(
    async () => Atomics.load(words, ChannelWord.receiverJoined) === Atomics.load(words, ChannelWord.transfer),
    EXIT_BOUND_MS,
    `the receiver on '${channel}' joined`,
  );
}

/** Waits until `path` holds at least `bytes` bytes (a receiver is making progress). */
export async function waitForSize(path: string, bytes: number, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if ((await Bun.file(path).exists()) && Bun.file(path).size >= bytes) return;
    await Bun.sleep(20);
  }
  throw new Error(`${path} did not reach ${bytes} bytes within ${timeoutMs} ms`);
}

export function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && Bun.hash.xxHash3(a) === Bun.hash.xxHash3(b);
}

/** A file and channel name from a test's label, distinct for "block - 1" and "block + 1". */
export function slug(label: string): string {
  return label.replaceAll("+", "plus").replaceAll(" - ", " minus ").replace(/\W+/g, "-");
}

export function outPath(paths: TestPaths, name: string): string {
  return join(paths.dir, name);
}

/**
 * Sends a fresh random file of `bytes` from `inputDir` (default: the test's directory) through channel
 * `name` between two `ivsh guest` processes and checks the copy bit for bit, and both ends' digest
 * against the reference (docs/layout.md) for records of `chunk` bytes.
 */
export async function roundTrip(
  paths: TestPaths,
  name: string,
  bytes: number,
  { chunk, inputDir = paths.dir }: { chunk?: number; inputDir?: string },
): Promise<{ chunkBytes: number; depth: number }> {
  const input = join(inputDir, `${name}.in`);
  const output = outPath(paths, `${name}.out`);
  const data = await randomFile(input, bytes);
  const receiver = guest(paths, ["recv", "--channel", name, "--out", output, "--json"]);
  const shape = chunk === undefined ? [] : ["--chunk-size", String(chunk)];
  const sender = guest(paths, ["send", input, "--channel", name, ...shape, "--json"]);
  expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
  await Promise.all([sender.events.finished, receiver.events.finished]);
  const summaries = [sender, receiver].map((side) => JSON.parse(side.events.lines.at(-1)!));
  // Records are cut at the chunk the sender used (its default when none was asked for).
  chunk ??= summaries[0].chunkBytes as number;
  // Both ends agree, and on the digest as docs/layout.md defines it.
  expect(summaries.map((summary) => summary.digest)).toEqual(
    Array(2).fill(formatted(referenceDigest(recordsOf(data, chunk)))),
  );
  expect(summaries.map((summary) => summary.bytes)).toEqual([bytes, bytes]);
  expect(sameBytes(new Uint8Array(await Bun.file(output).arrayBuffer()), data)).toBe(true);
  expect(await Bun.file(`${output}.partial`).exists()).toBe(false);
  return { chunkBytes: summaries[0].chunkBytes, depth: summaries[0].depth };
}

/**
 * `ivsh guest ROLE ... --channel CHANNEL --timeout TIMEOUT --progress` waiting for a peer that never comes
 * (a sender's stdin idle, a receiver writing to stdout); what it says on stderr, as it comes.
 */
export function idleEnd(paths: TestPaths, role: "send" | "recv", channel: string, timeout: string) {
  const what = role === "send" ? ["-"] : ["--out", "-"];
  const command = [process.execPath, CLI, "guest", role, ...what, "--channel", channel];
  const proc = tracked(
    Bun.spawn([...command, "--timeout", timeout, "--progress"], {
      stdin: "pipe",
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...clientEnv(paths) },
    }),
  );
  return { proc, said: collected(proc.stderr) };
}

/** `ivsh guest ARGS…` against `paths`' arbiter, its stderr gathered as it comes (`said.text`). */
export function guestSaying(paths: TestPaths, args: string[]) {
  const proc = tracked(
    Bun.spawn([process.execPath, CLI, "guest", ...args], {
      stdout: "ignore",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...clientEnv(paths) },
    }),
  );
  return { proc, said: collected(proc.stderr) };
}

/** A `guestSaying` end's stderr once it says `words`, or all of it if it exited first. */
export async function saidOnce(end: ReturnType<typeof guestSaying>, words: string): Promise<string> {
  let exited = false;
  void end.proc.exited.then(() => {
    exited = true;
  });
  while (!exited && !end.said.text.includes(words)) await Bun.sleep(50);
  await Bun.sleep(exited ? 100 : 0); // what it said last, as it exited
  return end.said.text;
}

/** What `stream` has said so far, read in the background: tests wait on `text` with `eventually`. */
function collected(stream: ReadableStream<Uint8Array>): { text: string } {
  const said = { text: "" };
  (async () => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) said.text += decoder.decode(chunk, { stream: true });
  })();
  return said;
}

/**
 * `ivsh guest ARGS` under `strace -f -qq -o LOG STRACE_ARGS` (e.g. `-P FILE` for the calls on one file,
 * `-e inject=...` to slow or fail one), aimed at `paths`' arbiter; its stderr read from the start.
 */
export function guestUnderStrace(paths: TestPaths, log: string, straceArgs: string[], args: string[]) {
  const command = ["strace", "-f", "-qq", "-o", log, ...straceArgs, process.execPath, CLI, "guest", ...args];
  const proc = tracked(
    Bun.spawn(command, { env: { ...process.env, ...clientEnv(paths) }, stdout: "pipe", stderr: "pipe" }),
  );
  return { proc, stderr: new Response(proc.stderr).text() };
}
