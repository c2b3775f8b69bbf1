/**
 * An arbiter whose clients connect through a relay that can drop a connection right after the arbiter's
 * first answer on it (a hello's), the region's header zeroed just before: the link lost while the client
 * checks the region, waiting for an overwritten header to be put back (test/resume-drop-during-check.test.ts).
 * The relay alone, hooking an answer without dropping it: test/region-header-restore.test.ts.
 */
import { closeSync, openSync, readFileSync, readSync, writeSync } from "node:fs";
import { join } from "node:path";
import type { Socket } from "bun";
import type { TestPaths } from "./paths.ts";
import { ArbiterProcess, clientConfig, livenessBoundMs, type Spawned, spawnFixture } from "./processes.ts";

interface RelayState {
  armed: boolean;
  /** Stays armed: every connection is hooked after its first answer. */
  always: boolean;
  /** A hooked connection is dropped once its answer has passed on (else it goes on). */
  drop: boolean;
  onAnswer: () => void;
  /**
   * Which answer is hooked: given what the arbiter has sent on the connection since the relay was armed
   * (latin1, so the words of an error frame can be looked for), whether this is it. The first, unless set.
   */
  hooks: (sent: string) => boolean;
  /** Resolved once the relay has dropped a connection after its answer. */
  answered: PromiseWithResolvers<void>;
  /** Resolved by the next connection from a client (set to a fresh resolver to watch for one). */
  opened: PromiseWithResolvers<void>;
}

/**
 * A Unix socket at `path` relayed to the arbiter's. Once armed, the first answer from the arbiter (a
 * hello's) runs `onAnswer` before it passes on, and that connection is then ended on the client's
 * side if `drop` (`answered` resolves). A connection the arbiter ends, or that finds no arbiter, is ended
 * there too.
 */
export function hookingRelay(arbiter: string, path: string) {
  const state: RelayState = {
    armed: false,
    always: false,
    drop: true,
    onAnswer: () => {},
    hooks: () => true,
    answered: Promise.withResolvers<void>(),
    opened: Promise.withResolvers<void>(),
  };
  const listener = Bun.listen<{
    arbiterSide?: Socket<undefined>;
    early: Uint8Array[];
    hooked: boolean;
    sent: string;
  }>({
    unix: path,
    socket: {
      open(clientSide) {
        clientSide.data = { early: [], hooked: false, sent: "" };
        state.opened.resolve();
        Bun.connect({
          unix: arbiter,
          socket: {
            data(_, bytes) {
              // Kept only while armed: what an armed relay's `hooks` may look for.
              if (state.armed) clientSide.data.sent += Buffer.from(bytes).toString("latin1");
              if (state.armed && !clientSide.data.hooked && state.hooks(clientSide.data.sent)) {
                state.armed = state.always;
                clientSide.data.hooked = true;
                state.onAnswer();
              }
              clientSide.write(bytes);
              if (!clientSide.data.hooked || !state.drop) return;
              clientSide.end();
              state.answered.resolve();
            },
            close: () => void clientSide.end(),
          },
        }).then(
          (arbiterSide) => {
            for (const bytes of clientSide.data.early) arbiterSide.write(bytes);
            clientSide.data.arbiterSide = arbiterSide;
          },
          () => void clientSide.end(), // no arbiter listening: the client sees its attempt fail
        );
      },
      data(clientSide, bytes) {
        const { arbiterSide, early } = clientSide.data;
        if (arbiterSide) arbiterSide.write(bytes);
        else early.push(Uint8Array.from(bytes));
      },
      close(clientSide) {
        clientSide.data.arbiterSide?.end();
      },
    },
  });
  return { listener, state };
}

/** Writes `bytes` over the header's first 16 (magic, layout version, ...); returns what was there. */
function swapHeaderStart(region: string, bytes: Uint8Array): Uint8Array {
  const fd = openSync(region, "r+");
  try {
    const before = new Uint8Array(16);
    readSync(fd, before, 0, 16, 0);
    writeSync(fd, bytes, 0, 16, 0);
    return before;
  } finally {
    closeSync(fd);
  }
}

/** Stops the arbiter, so that no sweep of its puts an overwritten header back, and waits until it is. */
export function stopSweeps(pid: number): void {
  process.kill(pid, "SIGSTOP");
  const deadline = performance.now() + 10_000;
  while (!/^\d+ \(.*\) T /.test(readFileSync(`/proc/${pid}/stat`, "utf8")))
    if (performance.now() > deadline) throw new Error("the arbiter did not stop within 10 s");
}

export interface RelayedArbiter {
  readonly arbiter: ArbiterProcess;
  readonly paths: TestPaths;
  /** Where clients connect: the relay's socket. */
  readonly socket: string;
  /** Resolved once the relay has dropped a connection after its answer. */
  answered(): Promise<void>;
  /** Resolved by the next connection to the relay after the last drop (a client trying again). */
  triedAgain(): Promise<void>;
  /**
   * Arms the relay: on the next answer (on `every` answer), the header's start is zeroed, and the arbiter
   * first stopped if `stopArbiter` (no sweep of its puts the header back; the next arbiter writes it at
   * its start), then the connection dropped.
   */
  dropAfterAnswer(options: { stopArbiter: boolean; every?: boolean }): void;
  /** Puts back the header's start that the last drop zeroed. */
  restoreHeader(): void;
  /** Ends the clients started through the relay, the relay and the arbiter (resumed if stopped). */
  stop(): Promise<void>;
  /** @internal For clientThrough: killed by `stop()`. */
  readonly clients: Spawned[];
}

/** An arbiter (10 s lease) and a relay to it at relay-`label`.sock, unarmed: it passes everything on. */
export async function arbiterBehindRelay(paths: TestPaths, label: string): Promise<RelayedArbiter> {
  const arbiter = await ArbiterProcess.start(paths, { lease: "10s" });
  const socket = join(paths.dir, `relay-${label}.sock`);
  const { listener, state } = hookingRelay(paths.socket, socket);
  let saved: Uint8Array | undefined;
  const clients: Spawned[] = [];
  return {
    arbiter,
    paths,
    socket,
    clients,
    answered: () => state.answered.promise,
    triedAgain: () => state.opened.promise,
    dropAfterAnswer({ stopArbiter, every = false }) {
      state.onAnswer = () => {
        if (stopArbiter) stopSweeps(arbiter.pid);
        saved = swapHeaderStart(paths.region, new Uint8Array(16));
        state.opened = Promise.withResolvers<void>();
      };
      [state.armed, state.always] = [true, every];
    },
    restoreHeader() {
      if (!saved) throw new Error("the relay has dropped no connection, so zeroed no header");
      swapHeaderStart(paths.region, saved);
    },
    async stop() {
      for (const client of clients) client.proc.kill("SIGKILL");
      listener.stop(true);
      try {
        process.kill(arbiter.pid, "SIGCONT"); // stopped by a drop if the test failed before it was killed
      } catch {} // gone already
      await arbiter.stop();
    },
  };
}

/** A stepped client (test/fixtures/stepped-client.ts) connecting through the relay, reconnecting for 60 s. */
export function clientThrough(relayed: RelayedArbiter): Spawned {
  const client = spawnFixture("stepped-client", {
    ...clientConfig(relayed.paths),
    socket: relayed.socket,
    reconnectTimeoutMs: 60_000,
  });
  relayed.clients.push(client);
  return client;
}

/** What the stepped client's next "alloc" came to: `{ ok: true, ... }` once its session goes on. */
export async function allocation(client: Spawned): Promise<Record<string, unknown>> {
  client.proc.stdin.write("alloc\n");
  return await client.events.next("allocated", livenessBoundMs(10_000));
}
