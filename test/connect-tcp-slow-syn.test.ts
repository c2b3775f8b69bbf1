/**
 * A guest's connect whose TCP handshake takes longer than 3 s: 20 `ivsh guest recv` started at once in a
 * TCG VM on a loaded host (test/vm/scale-guests) waited more than 5 s for the SYN's answer, and the one
 * that gave up at the fixed 3 s connect timeout failed ("there was no answer within 3000 ms", exit 1),
 * untried again, while connect() had 30 s to get through. The TCP connect is now bounded by connect()'s
 * own wait (connectTimeoutMs, else reconnectTimeoutMs), as its hello is. The slow handshake here: a
 * python3 listener whose accept queue is full (the kernel drops the client's SYN and retries it), which
 * starts taking connections 4 s in, each run through a real `ivsh bridge` on that socket, as QEMU does.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { dirname } from "node:path";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EventStream, eventually, exitOrKill, readUntil } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { FULL_LISTENER_PY, synSent } from "./helpers/tcp-backlog.ts";
import { testWithTool } from "./helpers/tools.ts";

const VM = "slow-syn-vm";

/**
 * Listens with a full accept queue until a line comes on stdin; then takes every connection, each given
 * to `ivsh bridge` (argv after the script) as its stdin and stdout.
 */
const SLOW_GUESTFWD = `
import json, os, socket, subprocess, sys
${FULL_LISTENER_PY}
sys.stdin.readline()
ours = {filler.getsockname()[1] for filler in fillers}
for filler in fillers:
    filler.close()
while True:
    conn, peer = server.accept()
    if peer[1] not in ours:
        subprocess.Popen(sys.argv[1:], stdin=conn.fileno(), stdout=conn.fileno(), env=dict(os.environ, TMPDIR=os.environ["BRIDGE_TMPDIR"]))
    conn.close()
`;

let paths: TestPaths;
let arbiter: ArbiterProcess;
beforeAll(async () => {
  paths = testPaths("connect-tcp-slow-syn");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

async function slowGuestfwd() {
  const bridge = [process.execPath, CLI, "bridge", "--vm", VM, "--socket", paths.socket];
  const python = tracked(
    Bun.spawn(["python3", "-c", SLOW_GUESTFWD, ...bridge], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
      // The bridges keep a full queue's marker in TMPDIR (src/host/bridge-episodes.ts): the test's.
      env: { ...process.env, BRIDGE_TMPDIR: dirname(paths.socket) },
    }),
  );
  const port = Number((await new EventStream(python.stdout).next("listening")).port);
  // The listener's own second filler may be one (its SYN dropped too).
  const synsBefore = synSent(port);
  const open = () => {
    python.stdin.write("open\n");
    void python.stdin.flush();
  };
  return { python, port, synsBefore, open };
}

testWithTool(
  "python3",
  "a guest's connect whose SYN goes unanswered for 4 s gets through once answered, within connectTimeoutMs",
  async () => {
    const forward = await slowGuestfwd();
    try {
      const connecting = connect({
        tcp: `127.0.0.1:${forward.port}`,
        region: paths.region,
        name: "slow-syn",
        connectTimeoutMs: 25_000,
      });
      const outcome = connecting.then(
        (client) => client,
        (error: Error) => error.message,
      );
      await eventually(async () => synSent(forward.port) > forward.synsBefore, 10_000, "the client's SYN");
      // Past the 3 s the TCP connect alone was given: what a loaded TCG guest waited for its SYN's answer.
      await Bun.sleep(4000);
      forward.open();
      const client = await outcome;
      expect(typeof client === "string" ? client : "connected").toBe("connected");
      if (typeof client === "string") return;
      const { report } = await fetchStatus({ unix: paths.socket }, 50);
      expect(
        report.clients.filter((each) => each.vm === VM && each.connected).map((each) => each.name),
      ).toEqual(["slow-syn"]);
      await client.close();
    } finally {
      forward.python.kill();
    }
  },
  60_000,
);

testWithTool(
  "python3",
  "a guest's connect whose SYN is never answered fails at connectTimeoutMs, naming the guestfwd to check",
  async () => {
    const forward = await slowGuestfwd();
    try {
      const started = performance.now();
      const outcome = await connect({
        tcp: `127.0.0.1:${forward.port}`,
        region: paths.region,
        connectTimeoutMs: 4000,
      }).then(
        async (client) => {
          await client.close();
          return "connected";
        },
        (error: Error) => error.message,
      );
      expect(outcome).toContain("Failed to connect to the arbiter at 127.0.0.1:");
      expect(outcome).toContain("since there was no answer within 4000 ms");
      expect(outcome).toContain(`guestfwd=tcp:127.0.0.1:${forward.port}-cmd:`);
      // Not before its wait (the 3 s it was once given alone); the upper bound is liveness only.
      expect(performance.now() - started).toBeGreaterThanOrEqual(3900);
      expect(performance.now() - started).toBeLessThan(30_000);
    } finally {
      forward.python.kill();
    }
  },
  60_000,
);

testWithTool(
  "python3",
  "ivsh status in a guest whose SYN goes unanswered for 4 s gets its answer, within its 10 s wait",
  async () => {
    const forward = await slowGuestfwd();
    try {
      const asking = fetchStatus({ hostname: "127.0.0.1", port: forward.port }, 50);
      const outcome = asking.then(
        ({ report }) => report,
        (error: Error) => error.message,
      );
      await eventually(async () => synSent(forward.port) > forward.synsBefore, 10_000, "the status's SYN");
      // Past the 3 s its TCP connect alone was given, inside the 10 s it waits for the whole exchange.
      await Bun.sleep(4000);
      forward.open();
      const report = await outcome;
      expect(typeof report === "string" ? report : "answered").toBe("answered");
    } finally {
      forward.python.kill();
    }
  },
  60_000,
);

testWithTool(
  "python3",
  "guest recv whose connect goes unanswered says, while it waits, for what, how long at most and what to check",
  async () => {
    // Its whole wait now (30 s by default, else --timeout), where it failed after 3 s: silent, a wrong
    // --connect looked like a hang.
    const forward = await slowGuestfwd();
    try {
      const recv = tracked(
        Bun.spawn(
          [
            process.execPath,
            CLI,
            "guest",
            "recv",
            "--connect",
            `127.0.0.1:${forward.port}`,
            "--region",
            paths.region,
          ],
          {
            stdin: "ignore",
            stdout: "ignore",
            stderr: "pipe",
            env: { ...process.env, NO_COLOR: "1" },
          },
        ),
      );
      const said = await readUntil(recv.stderr, "waiting for the arbiter");
      // Said while it waits, not only in its error at the end (the bound is liveness only).
      const waiting = recv.exitCode === null;
      expect({ waiting, said }).toEqual({
        waiting: true,
        said: expect.stringContaining(`waiting for the arbiter at 127.0.0.1:${forward.port} to answer`),
      });
      expect(said).toContain("gives up after 30 s");
      recv.kill("SIGINT");
      expect(await exitOrKill(recv, 30_000)).toBe(130);
    } finally {
      forward.python.kill();
    }
  },
  60_000,
);
