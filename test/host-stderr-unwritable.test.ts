/**
 * `ivsh host` whose stderr cannot be written (a log file on a full disk: every write fails ENOSPC, here
 * /dev/full) serves, and stops on its first SIGTERM as it does otherwise: exit 0, its socket removed.
 * Its first log line's failed write threw out of the command, which ended there while the arbiter went on
 * serving: nothing awaited the stop signal any more, so a SIGTERM (systemctl stop, kill) did nothing, and
 * a second one killed it by default, its socket and hand-over socket left behind. The log is the last
 * place to report anything: a write to it that fails is dropped, as one to a closed or gone reader is.
 */
import { expect, test } from "bun:test";
import { closeSync, existsSync, openSync } from "node:fs";
import { socketAnswers } from "../src/host/listener.ts";
import { CLI, testPaths } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, eventually, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";

test(
  "ivsh host with stderr on a full disk serves, and its first SIGTERM stops it cleanly",
  async () => {
    const paths = testPaths("mut13-stderr-full");
    const full = openSync("/dev/full", "w");
    const host = tracked(
      Bun.spawn(
        [
          process.execPath,
          CLI,
          "host",
          "--region",
          paths.region,
          "--socket",
          paths.socket,
          "--state",
          paths.state,
        ],
        { stdout: "ignore", stderr: full, env: { ...process.env, NO_COLOR: "1" } },
      ),
    );
    closeSync(full);
    try {
      await eventually(() => socketAnswers(paths.socket), EXIT_BOUND_MS, "the arbiter to listen");
      host.kill("SIGTERM");
      expect(await exitOrKill(host, EXIT_BOUND_MS)).toBe(0);
      expect(existsSync(paths.socket)).toBe(false);
    } finally {
      host.kill("SIGKILL");
      await host.exited;
      paths.cleanup();
    }
  },
  3 * EXIT_BOUND_MS,
);
