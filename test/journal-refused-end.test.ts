/**
 * A session whose end (its connection dropped) the state journal could not record is kept by the arbiter
 * until its lease runs out, but its locks were released as owner-died all the same: the client is gone as
 * far as the region goes, so another holder may take them at once. Its client, alive behind a link that
 * only dropped, reconnected and was let resume that session (told its locks and grants are kept) while
 * another client held the lock it believed still its own.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { join } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import { type Client, connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { cannotMount, fillFile, withSmallTmpfs } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("journal-refused-end");
});
afterAll(() => paths?.cleanup());

/** A TCP port relayed to the arbiter's socket, whose connections the test can cut (a link that drops). */
function relay(socketPath: string): { port: number; cut(): void; stop(): void } {
  const links = new Set<Socket<{ peer?: Socket<unknown> }>>();
  const listener: TCPSocketListener<{ peer?: Socket<unknown> }> = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      async open(socket) {
        socket.data = {};
        links.add(socket);
        socket.pause();
        socket.data.peer = await Bun.connect({
          unix: socketPath,
          socket: {
            data: (_peer, bytes) => void socket.write(bytes),
            close: () => void socket.end(),
            error: () => void socket.end(),
          },
        });
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

testUnless(
  cannotMount,
  "a session whose end the full journal refused is not resumed with its locks released: the reconnecting client is told its session is gone",
  () =>
    withSmallTmpfs(join(paths.dir, "small"), "1m", async (small) => {
      const own = { ...paths, state: join(small, "arbiter.state") };
      const arbiter = await ArbiterProcess.start(own, { lease: "30s" });
      const link = relay(own.socket);
      const connected: Client[] = [];
      try {
        const holder = await connect({ tcp: `127.0.0.1:${link.port}`, region: own.region, name: "holder" });
        const other = await connect({ socket: own.socket, region: own.region, name: "other" });
        connected.push(holder, other);
        const mine = await holder.mutex("kept");
        const theirs = await other.mutex("kept");
        expect(await mine.lock()).toBe("acquired");
        fillFile(join(small, "filler"));
        // Changes until the journal refuses one; the refusals that follow, for a second, are up front.
        let refused = "ok";
        for (let index = 0; index < 500 && refused === "ok"; index++)
          refused = await outcome(other.mutex(`filler-${index}-${"x".repeat(200)}`).then((m) => m.close()));
        expect(refused).toBe("NoSpace");

        link.cut();
        // The holder reconnects at once; within its lease, the arbiter still has the session.
        const deadline = performance.now() + 10_000;
        while (holder.reconnects === 0 && performance.now() < deadline && !holder.lost) await Bun.sleep(20);
        const taken = theirs.tryLock();
        // Either the session came back with its lock (nobody else may take it), or it is gone (and the lock
        // was released): never resumed with its lock handed to another client.
        if (holder.reconnects > 0) {
          expect(taken).toBeUndefined();
          expect(mine.owner).toBe(holder.clientId);
        } else {
          expect(String(holder.lost?.code)).toBe("SessionUnknown");
          expect(taken).toBe("owner-died");
        }
      } finally {
        link.stop();
        await Promise.all(connected.map((client) => client.close().catch(() => {})));
        await arbiter.stop().catch(() => {});
      }
    }),
  60_000,
);
