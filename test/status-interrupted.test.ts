/**
 * `ivsh status` interrupted while it waits for its arbiter (stopped: SIGSTOP, a frozen VM's bridge) died
 * of the signal without a word, where `ivsh guest send` and `recv` say "Failed to connect to the arbiter
 * since it was interrupted by SIGINT" (and `--json` a JSON error). Now it says so too, exit code 130 still.
 */
import { afterEach, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { CLI } from "./helpers/paths.ts";
import { eventually, spawnBun } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { clientEnv } from "./helpers/transfer.ts";

const suite = sharedArbiter("status-interrupted");
afterEach(() => {
  suite.arbiter.spawned.proc.kill("SIGCONT");
});

/**
 * Connections to the arbiter's socket, accepted or still queued: /proc/net/unix lists a queued one (the
 * arbiter stopped accepts nothing) under the listener's path too (the path it was bound to: SOCKET.~TAG,
 * renamed to SOCKET after).
 */
function connectionsTo(socket: string): number {
  const lines = readFileSync("/proc/net/unix", "utf8").split("\n");
  return lines.filter((line) => line.includes(` ${socket}`)).length;
}

test("ivsh status interrupted while its arbiter is stopped says so, text and --json", async () => {
  suite.arbiter.spawned.proc.kill("SIGSTOP");
  for (const json of [false, true]) {
    const before = connectionsTo(suite.socket);
    const status = spawnBun([CLI, "status", ...(json ? ["--json"] : [])], clientEnv(suite.paths));
    await eventually(async () => connectionsTo(suite.socket) > before, 20_000, "ivsh status connecting");
    status.proc.kill("SIGINT");
    expect(await status.exit()).toBe(130);
    expect(await status.stderr).toContain(
      "Failed to connect to the arbiter since it was interrupted by SIGINT",
    );
    if (json) {
      await status.events.finished;
      expect(JSON.parse(status.events.text)).toMatchObject({ error: { code: "Interrupted" } });
    }
  }
}, 60_000);
