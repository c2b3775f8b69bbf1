/**
 * What a transfer says on a stderr that is no terminal (a log, a pipe), as `--help` says: nothing but the
 * summary line at the end, unless --progress; with it, a plain line a second while bytes move, written as
 * it goes (a log that is tailed shows the transfer is alive), not at the end.
 */
import { expect, test } from "bun:test";
import { CLI } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, eventually, exitOrKill, readUntil, runCli } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { clientEnv, guest, guestSaying } from "./helpers/transfer.ts";

const suite = sharedArbiter("progress-log", { size: "16MiB" });
const PIECE = new Uint8Array(64 << 10).fill(3);

/** `guest send - FLAGS` on a channel with its receiver, fed by the test; stderr is a pipe, no terminal. */
function trickledSend(channel: string, flags: string[]) {
  const receiver = guest(suite.paths, ["recv", "--channel", channel, "--out", "/dev/null", "-q"]);
  const sender = tracked(
    Bun.spawn(
      [process.execPath, CLI, "guest", "send", "-", "--channel", channel, "--chunk-size", "64KiB", ...flags],
      {
        stdin: "pipe",
        stdout: "ignore",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1", ...clientEnv(suite.paths) },
      },
    ),
  );
  return { receiver, sender };
}

test("--progress off a terminal: a progress line is written while the transfer runs, before it ends", async () => {
  const { receiver, sender } = trickledSend("logged", ["--progress"]);
  sender.stdin.write(PIECE);
  await sender.stdin.flush();
  // The stream is still open: only a line written as it goes can be read here (the test's bound says if none is).
  const feeding = setInterval(() => {
    sender.stdin.write(PIECE);
    sender.stdin.flush();
  }, 200);
  let said: string;
  try {
    said = await Promise.race([
      readUntil(sender.stderr, (text) => /send -: .*KiB/.test(text)),
      Bun.sleep(EXIT_BOUND_MS).then(() => "(no progress line while the stream was open)"),
    ]);
  } finally {
    clearInterval(feeding);
  }
  expect(said).toMatch(/^send -: [\d.]+ KiB/m);
  expect(said).not.toContain("\x1b[");
  await sender.stdin.end();
  expect([await exitOrKill(sender, EXIT_BOUND_MS), await receiver.exit()]).toEqual([0, 0]);
});

test("off a terminal without --progress: no progress lines, the summary line at the end only", async () => {
  const { receiver, sender } = trickledSend("unlogged", []);
  for (let piece = 0; piece < 6; piece++) {
    sender.stdin.write(PIECE);
    await sender.stdin.flush();
    await Bun.sleep(300);
  }
  await sender.stdin.end();
  const [exitCode, stderr] = await Promise.all([
    exitOrKill(sender, EXIT_BOUND_MS),
    new Response(sender.stderr).text(),
  ]);
  expect([exitCode, await receiver.exit()]).toEqual([0, 0]);
  expect(stderr).toMatch(/^\[ivsh\] ✔ sent 384\.0 KiB \(393216 bytes\) in [\d.]+ s, .* verified\n$/);
});

test("--help says what shows off a terminal, with and without --progress", async () => {
  for (const command of ["send", "recv"]) {
    const { stdout } = await runCli(["guest", command, "--help"]);
    expect(stdout).toContain(
      "--progress    Off a terminal (a log, a pipe) only the summary line shows, at the end; with --progress also a plain line a second while bytes move",
    );
  }
});

test("recv --progress off a terminal: a progress line is written while the transfer runs, before it ends", async () => {
  const receiver = tracked(
    Bun.spawn(
      [
        process.execPath,
        CLI,
        "guest",
        "recv",
        "--channel",
        "logged-recv",
        "--out",
        "/dev/null",
        "--progress",
      ],
      {
        stdout: "ignore",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1", ...clientEnv(suite.paths) },
      },
    ),
  );
  const sender = guest(suite.paths, ["send", "-", "--channel", "logged-recv", "--chunk-size", "64KiB", "-q"]);
  sender.proc.stdin.write(PIECE);
  await sender.proc.stdin.flush();
  const feeding = setInterval(() => {
    sender.proc.stdin.write(PIECE);
    sender.proc.stdin.flush();
  }, 200);
  let said: string;
  try {
    said = await Promise.race([
      readUntil(receiver.stderr, (text) => /recv \/dev\/null: .*KiB/.test(text)),
      Bun.sleep(EXIT_BOUND_MS).then(() => "(no progress line while the stream was open)"),
    ]);
  } finally {
    clearInterval(feeding);
    await sender.proc.stdin.end();
  }
  expect(said).toMatch(/^recv \/dev\/null: [\d.]+ KiB/m);
  expect([await sender.exit(), await exitOrKill(receiver, EXIT_BOUND_MS)]).toEqual([0, 0]);
});

// Found by a trial: a sender with no receiver yet, its whole (small) input already in the ring, said
// "waiting for the receiver to confirm..." first, of a receiver that did not exist.
test("--progress, no receiver yet, the stream already in the ring: waiting for a receiver, not its confirmation", async () => {
  const sender = guestSaying(suite.paths, [
    "send",
    "/etc/hostname",
    "--channel",
    "nobody-here",
    "--progress",
  ]);
  // Ended once it says it (Ctrl-C): ended by a --timeout 1500ms, a sender whose set-up a loaded machine
  // held back past 1.3 s gave up before it said anything (its line comes 200 ms after its ring is published).
  const waiting = "waiting for a receiver on channel 'nobody-here'";
  await eventually(async () => sender.said.text.includes(waiting), EXIT_BOUND_MS, "the sender waiting");
  sender.proc.kill("SIGINT");
  expect(await exitOrKill(sender.proc, EXIT_BOUND_MS)).toBe(130);
  // Said at once, as its stream was in the ring: before the line above.
  expect(sender.said.text).not.toContain("to confirm");
}, 60_000);
