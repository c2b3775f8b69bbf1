/**
 * A stop signal ignored when a command started stays ignored (src/commands/_exit.ts): in a script,
 * `ivsh guest send FILE &` runs with SIGINT ignored (POSIX has the shell do so for a background job), and
 * a Ctrl-C meant for the script's foreground job, which reaches the whole process group, must not abandon
 * the transfer. The arbiter's own case is in test/host-start-signals.test.ts.
 */
import { expect, test } from "bun:test";
import { CLI } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { clientEnv, guest, outPath, waitForSize } from "./helpers/transfer.ts";

const suite = sharedArbiter("ignored-signals");

test("guest send with SIGINT ignored (a script's `send &`): SIGINT mid-transfer does not stop it", async () => {
  const output = outPath(suite.paths, "kept.out");
  const receiver = guest(suite.paths, ["recv", "--channel", "kept", "--out", output]);
  const sender = tracked(
    Bun.spawn(
      [
        "sh",
        "-c",
        `trap '' INT; exec "$@"`,
        "sh",
        process.execPath,
        CLI,
        "guest",
        "send",
        "-",
        "--channel",
        "kept",
      ],
      {
        stdin: "pipe",
        stdout: "ignore",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1", ...clientEnv(suite.paths) },
      },
    ),
  );
  const stderr = new Response(sender.stderr).text();
  sender.stdin.write(new Uint8Array(100_000).fill(7));
  await sender.stdin.flush();
  // Streaming: the sender has long claimed the stop signals it listens for.
  await waitForSize(`${output}.partial`, 100_000);
  sender.kill("SIGINT");
  sender.stdin.write(new Uint8Array(100_000).fill(8));
  await sender.stdin.end();
  expect({ sender: await exitOrKill(sender, EXIT_BOUND_MS), stderr: await stderr }).toEqual({
    sender: 0,
    stderr: expect.not.stringContaining("interrupted"),
  });
  expect(await receiver.exit()).toBe(0);
  expect(Bun.file(output).size).toBe(200_000);
});
