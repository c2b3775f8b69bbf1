/**
 * An arbiter whose state journal lives on a small tmpfs that a test can fill: for the tests of what the
 * arbiter does when the journal cannot be written. Mounting needs root: such tests are
 * `testUnless(cannotMount, ...)` (./small-fs.ts).
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { Socket, TCPSocketListener } from "bun";
import { type Client, type ConnectOptions, connect } from "../../src/guest/index.ts";
import { type TestPaths, testPaths } from "./paths.ts";
import { type ArbiterFlags, ArbiterProcess } from "./processes.ts";
import { fillFile, withSmallTmpfs } from "./small-fs.ts";

export interface SmallJournal {
  /** The test file's places, the state journal's moved to the small tmpfs. */
  own: TestPaths;
  arbiter: ArbiterProcess;
  /** The tmpfs's directory. */
  small: string;
  /** The file that fills the tmpfs. */
  filler: string;
  /** Fills the journal's file system (`filler` takes what room is left). */
  fill(): void;
  /** Frees that room again. */
  roomBack(): void;
  /** A client of the arbiter (on its socket unless `options` say where), closed after the body. */
  connect(name: string, options?: ConnectOptions): Promise<Client>;
}

/**
 * Registers the hooks that make and remove the test file's places, and gives `withSmallJournal`: it mounts
 * a 1 MiB tmpfs at `dir` (under those places), starts an arbiter with `flags` whose state journal is there,
 * and runs `body`; then closes the clients `connect` made and stops the arbiter.
 */
export function smallJournals(label: string) {
  let paths: TestPaths | undefined;
  beforeAll(() => {
    paths = testPaths(label);
  });
  afterAll(() => paths?.cleanup());
  return function withSmallJournal<T>(
    dir: string,
    body: (journal: SmallJournal) => Promise<T>,
    flags: ArbiterFlags = {},
  ): Promise<T> {
    if (!paths) throw new Error(`the places of '${label}' are not made yet: use them in a test`);
    const made = paths;
    return withSmallTmpfs(join(made.dir, dir), "1m", async (small) => {
      const own = { ...made, state: join(small, "arbiter.state") };
      const arbiter = await ArbiterProcess.start(own, flags);
      const connected: Client[] = [];
      const filler = join(small, "filler");
      try {
        return await body({
          own,
          arbiter,
          small,
          filler,
          fill: () => fillFile(filler),
          roomBack: () => rmSync(filler),
          connect: async (name, options = { socket: own.socket }) => {
            const client = await connect({ region: own.region, name, ...options });
            connected.push(client);
            return client;
          },
        });
      } finally {
        await Promise.all(connected.map((client) => client.close().catch(() => {})));
        await arbiter.stop().catch(() => {});
      }
    });
  };
}

/** "ok" when `done` resolves, else the code it was rejected with. */
export const outcome = (done: Promise<unknown>): Promise<string> =>
  done.then(
    () => "ok",
    (error: { code?: string }) => String(error.code),
  );

/**
 * Changes that zero no block (a mutex opened and closed, named by `name`), until the journal refuses one;
 * the refusals that follow, for a second, are up front. Returns the refusal's code ("ok": none in 500).
 */
export async function untilRefused(
  client: Client,
  name = (index: number) => `filler-${index}-${"x".repeat(200)}`,
): Promise<string> {
  let refused = "ok";
  for (let index = 0; index < 500 && refused === "ok"; index++)
    refused = await outcome(client.mutex(name(index)).then((mutex) => mutex.close()));
  return refused;
}

/**
 * Clients "holder" (connected as `holderOptions` say, else on the socket) and "other" each open mutex
 * `name` and the holder locks it; then the journal's file system is filled until it refuses a change.
 */
export async function lockedWhenFull(journal: SmallJournal, name: string, holderOptions?: ConnectOptions) {
  const holder = await journal.connect("holder", holderOptions);
  const other = await journal.connect("other");
  const mine = await holder.mutex(name);
  const theirs = await other.mutex(name);
  expect(await mine.lock()).toBe("acquired");
  journal.fill();
  // Changes until the journal refuses one; the refusals that follow, for a second, are up front.
  expect(await untilRefused(other)).toBe("JournalFull");
  return { holder, other, mine, theirs };
}

/**
 * A TCP port relayed to the arbiter's socket, whose connections the test can cut (a link that drops) and
 * keep from coming back (new ones are closed at once while `control.blocked`).
 */
export function droppingRelay(socketPath: string) {
  const links = new Set<Socket<{ peer?: Socket<unknown> }>>();
  /** `turnedAway`: connections closed at once while blocked (a client's tries to reconnect). */
  const control = { blocked: false, turnedAway: 0 };
  const listener: TCPSocketListener<{ peer?: Socket<unknown> }> = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      async open(socket) {
        socket.data = {};
        if (control.blocked) {
          control.turnedAway++;
          return void socket.end();
        }
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
