/**
 * The arbiter at its open-file limit. Past it accept(2) fails with EMFILE and Bun's listener retries at
 * once, so the arbiter used to spin a core while the clients waited for ever, told nothing. It now turns
 * away the connections its limit leaves no room for, naming the limit, and keeps serving the others; and
 * when descriptors run out some other way, it says so with the limit in force then.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { closeSync, existsSync, openSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { RESERVED_DESCRIPTORS } from "../src/host/connection-limit.ts";
import { socketAnswers } from "../src/host/listener.ts";
import { expectRejection } from "./helpers/errors.ts";
import { socketGuestfwd } from "./helpers/guestfwd.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, eventually, exitOrKill, readUntil } from "./helpers/processes.ts";
import { testWithTool } from "./helpers/tools.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("host-descriptors");
});
afterAll(() => paths?.cleanup());

const LIMIT = 96;

/** An arbiter whose open-file limit is `limit` (soft and hard), its stderr piped; `inherited`: files it is started with open. */
function startHost(label: string, limit = LIMIT, inherited: number[] = []) {
  const region = join(paths.shmDir, `${label}.region`);
  const socket = join(paths.dir, `${label}.sock`);
  const host = Bun.spawn(
    [
      ...["prlimit", `--nofile=${limit}:${limit}`, process.execPath, CLI, "host", "--exit-with-parent"],
      ...["--region", region, "--socket", socket, "--state", join(paths.dir, `${label}.state`)],
      ...["--size", "16MiB", "--block-size", "64KiB"],
    ],
    {
      stdio: ["ignore", "ignore", "pipe", ...inherited],
      env: { ...process.env, NO_COLOR: "1" },
    },
  );
  return { host, region, socket };
}

/** Until the arbiter at `socket` answers (started, or restarted). */
function listening(socket: string): Promise<void> {
  return eventually(() => socketAnswers(socket), 15_000, "the arbiter listening");
}

/** Kills an arbiter started by `startHost` and waits until it is gone. */
async function killed(host: ReturnType<typeof startHost>["host"]): Promise<void> {
  host.kill("SIGKILL");
  await host.exited;
}

/** Clock ticks (1/100 s) of CPU the process has used, user and system. */
function cpuTicks(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return Number(fields[11]) + Number(fields[12]);
}

/** Plain connections that say nothing, held open. */
async function holdConnections(socket: string, count: number): Promise<{ end(): void }[]> {
  const held: { end(): void }[] = [];
  for (let index = 0; index < count; index++)
    held.push(await Bun.connect({ unix: socket, socket: { data() {}, error() {} } }));
  return held;
}

testWithTool(
  "prlimit",
  "more clients than the open-file limit leaves room for: the rest are refused naming it, the arbiter does not spin",
  async () => {
    const { host, region, socket } = startHost("crowd");
    const held: { end(): void }[] = [];
    try {
      await listening(socket);
      // More than the limit itself: before the fix, accept(2) failed from about the 85th on.
      held.push(...(await holdConnections(socket, LIMIT + 10)));
      // A spinning arbiter takes a whole core (about 200 ticks in 2 s; 100 with the other core busy).
      const before = cpuTicks(host.pid);
      await Bun.sleep(2000);
      expect(cpuTicks(host.pid) - before).toBeLessThan(50);
      // A few more, for any room left by the probe of "listening", whose close the arbiter saw late.
      held.push(...(await holdConnections(socket, 5)));
      await expectRejection(
        connect({ socket, region }),
        "NoSpace",
        new RegExp(
          `open-file limit \\(ulimit -n ${LIMIT}\\) leaves room for \\(${LIMIT - RESERVED_DESCRIPTORS}\\)`,
        ),
      );
      // Room again once some leave: served as before.
      for (const connection of held.splice(0, 20)) connection.end();
      await eventually(
        async () => (await fetchStatus({ unix: socket }).catch(() => undefined)) !== undefined,
        15_000,
        "status answered once connections closed",
      );
      const client = await connect({ socket, region });
      await client.close();
    } finally {
      for (const connection of held) connection.end();
      await killed(host);
    }
  },
  60_000,
);

testWithTool(
  "prlimit",
  "an arbiter started with 40 descriptors inherited open: they are not taken for room, it does not spin",
  async () => {
    const file = openSync("/dev/null", "r");
    const { host, region, socket } = startHost("inherited", 64, Array(40).fill(file));
    closeSync(file);
    const held: { end(): void }[] = [];
    try {
      await listening(socket);
      // 64 less its own dozen and the 40: about 12 free, where 32 connections were let in before.
      held.push(...(await holdConnections(socket, 30)));
      const before = cpuTicks(host.pid);
      await Bun.sleep(2000);
      expect(cpuTicks(host.pid) - before).toBeLessThan(50);
      // A few more, for any room left by the probe of "listening", whose close the arbiter saw late.
      held.push(...(await holdConnections(socket, 5)));
      await expectRejection(connect({ socket, region }), "NoSpace", /open-file limit \(ulimit -n 64\)/);
    } finally {
      for (const connection of held) connection.end();
      await killed(host);
    }
  },
  60_000,
);

testWithTool(
  "prlimit",
  "descriptors run out another way (the limit lowered under it): the arbiter says so with the limit now in force",
  async () => {
    const { host, socket } = startHost("lowered");
    try {
      await listening(socket);
      // Below the arbiter's own files: nothing new can be opened, whatever it counted of connections.
      const own = readdirSync(`/proc/${host.pid}/fd`).length;
      Bun.spawnSync(["prlimit", `--pid=${host.pid}`, `--nofile=${own - 2}:${own - 2}`]);
      const wanted = `cannot accept connections: too many open files (EMFILE); raise ulimit -n (now ${own - 2})`;
      expect(await readUntil(host.stderr, wanted)).toContain(wanted);
    } finally {
      await killed(host);
    }
  },
  60_000,
);

testWithTool(
  "prlimit",
  "an open-file limit that leaves room for no connection: refused at start below what a refusal needs, warned of above",
  async () => {
    // At 12 every connection was closed unanswered, the log silent: its clients said "not an ivsh arbiter".
    const tiny = startHost("tiny", 12);
    const said = new Response(tiny.host.stderr).text();
    expect(await exitOrKill(tiny.host, EXIT_BOUND_MS)).toBe(1);
    expect(await said).toContain(
      "Failed to start the arbiter since its open-file limit (ulimit -n 12) leaves no descriptor to answer a client with",
    );
    expect(existsSync(tiny.region)).toBe(false);
    // At 32 each one is refused, naming the limit (the tests below), and the operator is told at start.
    const none = startHost("no-room", RESERVED_DESCRIPTORS);
    try {
      const warned = "its open-file limit (ulimit -n 32) leaves room for no connection";
      expect(await readUntil(none.host.stderr, warned)).toContain(warned);
    } finally {
      await killed(none.host);
    }
  },
  60_000,
);

testWithTool(
  "prlimit",
  "a client of an arbiter whose limit leaves room for no connection: told so, with no count below zero",
  async () => {
    const { host, region, socket } = startHost("below-reserve", 20);
    try {
      await listening(socket);
      await expectRejection(
        connect({ socket, region }),
        "NoSpace",
        /open-file limit \(ulimit -n 20\) leaves room for no connection \(it keeps 32 /,
      );
    } finally {
      await killed(host);
    }
  },
  60_000,
);

testWithTool(
  "prlimit",
  "a session resuming while the arbiter has no room for its connection goes on once one with room serves it",
  async () => {
    let { host, region, socket } = startHost("resume");
    try {
      await listening(socket);
      const client = await connect({ socket, region, reconnectTimeoutMs: 30_000 });
      await killed(host);
      // Restarted with room for no connection (its own dozen files, 32 kept back): each one is refused.
      ({ host } = startHost("resume", RESERVED_DESCRIPTORS));
      await listening(socket);
      await Bun.sleep(1000); // the client's resume is refused meanwhile, again and again
      expect(client.reconnects).toBe(0);
      await killed(host);
      ({ host } = startHost("resume"));
      // Room again: the session goes on, as after any restart (it was lost at the first refusal).
      await eventually(async () => client.reconnects === 1 || client.lost !== undefined, 15_000, "resumed");
      expect(client.lost?.message).toBeUndefined();
      const segment = await client.alloc(65536);
      expect(segment.capacity).toBeGreaterThanOrEqual(65536);
      await client.close();
    } finally {
      await killed(host);
    }
  },
  60_000,
);

testWithTool(
  "prlimit",
  "a guest through its bridge, the arbiter without room for it: told why, naming the limit, not left waiting",
  async () => {
    const { host, region, socket } = startHost("guest", RESERVED_DESCRIPTORS);
    const guestfwd = socketGuestfwd("crowded-vm", socket);
    try {
      await listening(socket);
      // The bridge's hand-over request is refused, and then its relay's identify: the guest heard nothing
      // until the hand-over's TTL (30 s) closed the descriptor the arbiter kept, then 'did not answer'.
      await expectRejection(
        connect({ tcp: `127.0.0.1:${guestfwd.port}`, region, connectTimeoutMs: 15_000 }),
        "NoSpace",
        /open-file limit \(ulimit -n 32\)/,
      );
    } finally {
      guestfwd.stop();
      await killed(host);
    }
  },
  60_000,
);

testWithTool(
  "prlimit",
  "guests refused through their bridges again and again: their hand-overs do not use up the arbiter's reserve",
  async () => {
    const { host, region, socket } = startHost("inbox");
    const guestfwd = socketGuestfwd("crowded-vm", socket);
    const held: { end(): void }[] = [];
    try {
      await listening(socket);
      held.push(...(await holdConnections(socket, LIMIT - RESERVED_DESCRIPTORS)));
      await Bun.sleep(200); // the probe of "listening" has left: its room is taken too
      held.push(...(await holdConnections(socket, 2)));
      // Each refused guest's bridge leaves the guest's descriptor in the hand-over inbox (for its TTL),
      // taken in at the inbox's next drain (each second): a few seconds of guests trying again.
      const until = performance.now() + 5000;
      for (let attempt = 0; performance.now() < until; attempt++) {
        const started = performance.now();
        await expectRejection(
          connect({ tcp: `127.0.0.1:${guestfwd.port}`, region, connectTimeoutMs: 8_000 }),
          "NoSpace",
        ).catch((error) => {
          throw new Error(`attempt ${attempt} after ${Math.round(performance.now() - started)} ms: ${error}`);
        });
      }
      // Descriptors to spare still: a client is told why, and accept(2) does not spin.
      await expectRejection(connect({ socket, region, connectTimeoutMs: 8_000 }), "NoSpace");
      const before = cpuTicks(host.pid);
      await Bun.sleep(2000);
      expect(cpuTicks(host.pid) - before).toBeLessThan(50);
    } finally {
      for (const connection of held) connection.end();
      guestfwd.stop();
      await killed(host);
    }
  },
  120_000,
);

testWithTool(
  "prlimit",
  "a session resuming while the arbiter has no room for it, until its reconnect timeout: lost naming the limit",
  async () => {
    let { host, region, socket } = startHost("refused-resume");
    try {
      await listening(socket);
      const client = await connect({ socket, region, reconnectTimeoutMs: 2000 });
      await killed(host);
      ({ host } = startHost("refused-resume", RESERVED_DESCRIPTORS));
      await eventually(async () => client.lost !== undefined, 15_000, "the session given up on");
      // Not 'it went away and did not come back (start `ivsh host` again)': it was there, and full.
      expect(client.lost?.message).toMatch(/open-file limit \(ulimit -n 32\)/);
    } finally {
      await killed(host);
    }
  },
  60_000,
);
