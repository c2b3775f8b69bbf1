/**
 * A session whose end (its connection dropped) the full state journal could not record has its locks
 * released as owner-died at once, and only the end's record waits: a hello resuming it is refused while
 * the arbiter runs (test/journal-refused-end.test.ts). That waiting end lived only in the arbiter's
 * memory, retried when the session's lease ran out. An arbiter stopped (or killed) before then, with room
 * back in the journal's file system, left the session live in the journal: after the restart its client
 * was let resume it and told its locks were kept, while another client held the lock it believed its own.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import { type Client, connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually } from "./helpers/processes.ts";
import { cannotMount, fillFile, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("journal-late-end-restart");
});
afterAll(() => paths?.cleanup());

/**
 * A TCP port relayed to the arbiter's socket, whose connections the test can cut (a link that drops) and
 * keep from coming back (new ones are closed at once while `blocked`).
 */
function relay(socketPath: string) {
  const links = new Set<Socket<{ peer?: Socket<unknown> }>>();
  const control = { blocked: false };
  const listener: TCPSocketListener<{ peer?: Socket<unknown> }> = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      async open(socket) {
        socket.data = {};
        if (control.blocked) return void socket.end();
        links.add(socket);
        socket.pause();
        socket.data.peer = await Bun.connect({
          unix: socketPath,
          socket: {
            data: (_peer, bytes) => void socket.write(bytes),
            close: () => void socket.end(),
            error: () => void socket.end(),
          },
        }).catch(() => undefined);
        if (!socket.data.peer) return void socket.end();
        socket.resume();
      },
      data: (socket, bytes) => void socket.data.peer?.write(bytes),
      close: (socket) => {
        links.delete(socket);
        socket.data.peer?.end();
      },
    },
  });
  return {
    port: listener.port,
    control,
    cut: () => {
      for (const link of links) link.data.peer?.end();
    },
    stop: () => listener.stop(true),
  };
}

const outcome = (done: Promise<unknown>) =>
  done.then(
    () => "ok",
    (error: { code?: string }) => String(error.code),
  );

interface Restart {
  arbiter: ArbiterProcess;
  other: Client;
  holderId: number;
  /** Frees room in the journal's file system. */
  roomBack(): void;
}

/**
 * The holder's link drops while the journal is full; another client takes its lock (owner-died);
 * `restart` gives the journal room and restarts the arbiter; the holder, let through again, must not be
 * resumed.
 */
async function lateEndAcrossRestart(small: string, restart: (at: Restart) => Promise<void>): Promise<void> {
  const own = { ...paths, state: join(small, "arbiter.state") };
  // A lease far longer than the test: the session's end is not retried because its lease ran out.
  const arbiter = await ArbiterProcess.start(own, { lease: "60s" });
  const link = relay(own.socket);
  const connected: Client[] = [];
  try {
    const tcp = `127.0.0.1:${link.port}`;
    const holder = await connect({ tcp, region: own.region, name: "holder", reconnectTimeoutMs: 120_000 });
    const other = await connect({ socket: own.socket, region: own.region, name: "other" });
    connected.push(holder, other);
    const mine = await holder.mutex("kept");
    const theirs = await other.mutex("kept");
    expect(await mine.lock()).toBe("acquired");
    const filler = join(small, "filler");
    fillFile(filler);
    let refused = "ok";
    for (let index = 0; index < 500 && refused === "ok"; index++)
      refused = await outcome(other.mutex(`filler-${index}-${"x".repeat(200)}`).then((m) => m.close()));
    expect(refused).toBe("NoSpace");

    // The link drops and stays down: the arbiter ends the session (locks released), unrecorded.
    link.control.blocked = true;
    link.cut();
    let taken: string | undefined;
    await eventually(
      async () => {
        taken = theirs.tryLock();
        return taken !== undefined;
      },
      20_000,
      "the other client taking the dropped holder's lock",
    );
    expect(taken).toBe("owner-died");

    await restart({ arbiter, other, holderId: holder.clientId, roomBack: () => rmSync(filler) });
    link.control.blocked = false;
    await eventually(
      async () => holder.reconnects > 0 || holder.lost !== undefined,
      30_000,
      "the holder's reconnection",
    );
    // Resumed, it would believe it holds 'kept', which the other client holds.
    expect({ reconnects: holder.reconnects, lost: holder.lost?.code }).toEqual({
      reconnects: 0,
      lost: "SessionUnknown",
    });
    expect(theirs.owner).toBe(other.clientId);
  } finally {
    link.stop();
    await Promise.all(connected.map((client) => client.close().catch(() => {})));
    await arbiter.stop().catch(() => {});
  }
}

testUnless(
  cannotMount,
  "a stop with room back in the journal's file system records the ends it could not: the client is not resumed after the restart",
  () =>
    withSmallTmpfs(join(paths.dir, "stop"), "1m", (small) =>
      lateEndAcrossRestart(small, async ({ arbiter, roomBack }) => {
        roomBack();
        await arbiter.stop();
        await arbiter.restart();
      }),
    ),
  90_000,
);

testUnless(
  cannotMount,
  "an end the full journal refused is recorded soon after room is back, not when the lease runs out: a kill -9 then does not bring the session back",
  () =>
    withSmallTmpfs(join(paths.dir, "kill"), "1m", (small) =>
      lateEndAcrossRestart(small, async ({ arbiter, other, holderId, roomBack }) => {
        roomBack();
        // Well within the 60 s lease at whose end the arbiter retried the end before.
        await eventually(
          async () => (await other.status(10, holderId)).clients.length === 0,
          20_000,
          "the record of the holder's end",
        );
        await arbiter.kill9();
        await arbiter.restart();
      }),
    ),
  90_000,
);

for (const [how, stop] of [
  ["killed (kill -9)", (arbiter: ArbiterProcess) => arbiter.kill9()],
  ["stopped (SIGTERM)", (arbiter: ArbiterProcess) => arbiter.stop()],
] as const)
  testUnless(
    cannotMount,
    `an arbiter ${how} while the journal still refuses the end: the next start ends that session, its client is not resumed`,
    () =>
      withSmallTmpfs(join(paths.dir, how.split(" ")[0]!), "1m", (small) =>
        lateEndAcrossRestart(small, async ({ arbiter, roomBack }) => {
          await stop(arbiter);
          roomBack(); // a start writes the journal anew: it needs room
          await arbiter.restart();
        }),
      ),
    90_000,
  );
