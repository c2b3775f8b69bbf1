/**
 * `ivsh status` interrupted while it waits for its arbiter (stopped: SIGSTOP, a frozen VM's bridge) died
 * of the signal without a word, where `ivsh guest send` and `recv` say "Failed to connect to the arbiter
 * since it was interrupted by SIGINT" (and `--json` a JSON error). Now it says so too, exit code 130 still.
 */
import { afterEach, expect, test } from "bun:test";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import { DEFAULT_REGION } from "../src/defaults.ts";
import { connect } from "../src/guest/index.ts";
import { FrameDecoder } from "../src/protocol/codec.ts";
import { messages } from "../src/protocol/messages.ts";
import { expectRejection } from "./helpers/errors.ts";
import { CLI } from "./helpers/paths.ts";
import { clientConfig, eventually, exitOrKill, spawnBun } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { stopArbiter } from "./helpers/stopped-arbiter.ts";
import { testUnless } from "./helpers/tools.ts";
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

/**
 * The signals' listener stayed installed once the report was in hand: a status whose output fills a pipe
 * nobody reads (a stalled consumer, `timeout 10 ivsh status --json | ...`) blocks writing it, where a
 * listener never runs, so SIGTERM (and any later signal) no longer ended it. It ended it before f0d1a65.
 */
test("ivsh status blocked writing its output to a stalled pipe still ends on SIGTERM", async () => {
  const client = await connect(clientConfig(suite.paths, { name: "many segments" }));
  // Each segment with a long name is some 400 bytes of --json: 240 of them fill a 64 KiB pipe.
  for (let index = 0; index < 240; index++)
    await client.alloc({ blocks: 1 }, { name: `${index}-${"padding-".repeat(29)}` });
  const fifo = join(suite.dir, "status.fifo");
  spawnSync("mkfifo", [fifo]);
  // Holds the pipe open without reading it.
  const stalled = Bun.spawn(["sh", "-c", `exec sleep 600 < '${fifo}'`]);
  const status = Bun.spawn(
    ["sh", "-c", `exec '${process.execPath}' '${CLI}' status --json --limit 1000 > '${fifo}'`],
    {
      env: { ...process.env, ...clientEnv(suite.paths) },
      stderr: "pipe",
    },
  );
  try {
    await eventually(
      async () => /pipe_write/.test(readFileSync(`/proc/${status.pid}/wchan`, "utf8")),
      20_000,
      "ivsh status blocked writing its output",
    );
    status.kill("SIGTERM");
    expect(await exitOrKill(status, 20_000)).toBe(143);
  } finally {
    stalled.kill();
    await stalled.exited;
    await client.close();
  }
}, 60_000);

/**
 * The goodbye's failure was swallowed whatever it was ("a slow goodbye is no failure"), an interruption
 * too: a SIGINT or SIGTERM while the arbiter had not yet answered it ended the status with exit code 0 and
 * its report, as if no signal had come. A relay to the arbiter that never passes on the goodbye pins it.
 */
test.each([
  ["SIGINT", false, 130],
  ["SIGTERM", true, 143],
] as const)(
  "ivsh status interrupted by %s while it says goodbye (--json: %p) exits %d and says so",
  async (signal, json, code) => {
    const relayed = join(suite.dir, `goodbye-held-${signal}.sock`);
    let byeHeld = () => {};
    const held = new Promise<void>((resolve) => {
      byeHeld = resolve;
    });
    const relay = byeHoldingRelay(suite.socket, relayed, () => byeHeld());
    try {
      const status = spawnBun([CLI, "status", ...(json ? ["--json"] : [])], {
        ...clientEnv(suite.paths),
        IVSH_SOCKET: relayed,
      });
      await held;
      status.proc.kill(signal);
      expect(await status.exit()).toBe(code);
      expect(await status.stderr).toContain(
        `Failed to say goodbye to the arbiter since it was interrupted by ${signal}`,
      );
      await status.events.finished;
      if (json) expect(JSON.parse(status.events.text)).toMatchObject({ error: { code: "Interrupted" } });
      else expect(status.events.text).toBe("");
    } finally {
      relay.stop(true);
    }
  },
  60_000,
);

/**
 * connect() given only the socket asks that arbiter for its region with the same status exchange, the
 * caller's signal passed on: aborted while the arbiter had not answered that question's goodbye, it failed
 * "to say goodbye to the arbiter", a goodbye its caller never asked for, where an abort a moment before or
 * after fails it "to connect to the arbiter" (as before the goodbye's interruption was made an error).
 */
testUnless(
  existsSync(DEFAULT_REGION) ? `${DEFAULT_REGION} exists, and a client given no region maps it` : undefined,
  "connect({ socket, signal }) aborted during its region question's goodbye says it failed to connect",
  async () => {
    const relayed = join(suite.dir, "goodbye-held-connect.sock");
    let byeHeld = () => {};
    const held = new Promise<void>((resolve) => {
      byeHeld = resolve;
    });
    const relay = byeHoldingRelay(suite.socket, relayed, () => byeHeld());
    try {
      const controller = new AbortController();
      const connecting = connect({ socket: relayed, signal: controller.signal });
      await held;
      controller.abort();
      await expectRejection(
        connecting,
        "Interrupted",
        /^Failed to connect to the arbiter since it was aborted/,
      );
    } finally {
      relay.stop(true);
    }
  },
  60_000,
);

/** A Unix socket at `path` relayed to the arbiter's, except for the goodbye: `onBye` is called instead. */
function byeHoldingRelay(arbiter: string, path: string, onBye: () => void) {
  interface Relay {
    arbiterSide?: Socket<undefined>;
    early: Uint8Array[];
    decoder: FrameDecoder;
  }
  return Bun.listen<Relay>({
    unix: path,
    socket: {
      open(clientSide) {
        clientSide.data = { early: [], decoder: new FrameDecoder() };
        void Bun.connect({
          unix: arbiter,
          socket: { data: (_, bytes) => void clientSide.write(bytes), close: () => void clientSide.end() },
        }).then((arbiterSide) => {
          for (const bytes of clientSide.data.early) arbiterSide.write(bytes);
          clientSide.data.arbiterSide = arbiterSide;
        });
      },
      data(clientSide, bytes) {
        // Each request waits for the answer to the one before: a goodbye comes in a chunk of its own.
        const { decoder, arbiterSide, early } = clientSide.data;
        decoder.push(bytes);
        let bye = false;
        for (let frame = decoder.next(); frame; frame = decoder.next()) bye ||= frame.op === messages.bye.op;
        if (bye) onBye();
        else if (arbiterSide) arbiterSide.write(bytes);
        else early.push(Uint8Array.from(bytes));
      },
      close(clientSide) {
        clientSide.data.arbiterSide?.end();
      },
    },
  });
}

/**
 * Not interrupted, `ivsh status` waits for an arbiter slow to answer (busy with a thousand clients, or
 * stopped for a moment) up to its 10 s: one stopped for 2 s of them is answered, not given up on.
 */
test("ivsh status waits out an arbiter stopped for 2 s and prints its report", async () => {
  const arbiter = stopArbiter(suite.arbiter);
  try {
    // Asking within the 2 s (a process starts in a fraction of it), or at worst after: answered either way.
    const status = spawnBun([CLI, "status", "--json"], clientEnv(suite.paths));
    await Bun.sleep(2000);
    arbiter.resume();
    // Before (its wait cut to 300 ms): exit 1, "Failed to connect to the arbiter since it answered nothing".
    expect({ exit: await status.exit(), stderr: await status.stderr }).toEqual({ exit: 0, stderr: "" });
    await status.events.finished;
    expect(JSON.parse(status.events.text)).toMatchObject({ region: { path: suite.region } });
  } finally {
    arbiter.resume();
  }
}, 60_000);
