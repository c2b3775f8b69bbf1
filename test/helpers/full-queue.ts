/**
 * A Unix socket whose accept queue is full, as a stopped or overloaded arbiter's is: python3 connects to it
 * without blocking until the kernel refuses one (EAGAIN), then holds those connections until it is killed.
 * With `listen`, it first takes the socket's path itself (removing a dead arbiter's socket file) and
 * listens with a backlog of one, never accepting. Its stdout says {"event": "full", "held": N} once full.
 */
import { afterEach, expect } from "bun:test";
import { fetchStatus } from "../../src/guest/inspect.ts";
import { EventStream, eventually } from "./processes.ts";
import { tracked } from "./reaper.ts";
import type { SharedArbiter } from "./shared-arbiter.ts";

const FILL_QUEUE = `
import json, os, socket, sys
if sys.argv[2] == "listen":
    os.unlink(sys.argv[1])
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(sys.argv[1])
    server.listen(1)
held = []
while True:
    peer = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    peer.setblocking(False)
    try:
        peer.connect(sys.argv[1])
    except BlockingIOError:
        peer.close()
        break
    held.append(peer)
print(json.dumps({"event": "full", "held": len(held)}), flush=True)
sys.stdin.read()
`;

/** Starts the filler on `socket` (see above); read its "full" event before relying on the queue. */
export function fillAcceptQueue(socket: string, how: "listen" | "connect only" = "connect only") {
  return tracked(
    Bun.spawn(["python3", "-c", FILL_QUEUE, socket, how === "listen" ? "listen" : "connect"], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
    }),
  );
}

/**
 * For a file whose tests stop its shared arbiter with a full accept queue: `stop()` stops it (SIGSTOP) and
 * fills its queue; `drain()` lets it run again with the queue emptied; after each test it is drained and
 * answering again, even when the test failed first.
 */
export function fullQueueOf(suite: SharedArbiter) {
  let filler: ReturnType<typeof fillAcceptQueue> | undefined;
  const drain = () => {
    filler?.kill();
    suite.arbiter.spawned.proc.kill("SIGCONT");
  };
  afterEach(async () => {
    drain();
    await filler?.exited;
    filler = undefined;
    const answers = () =>
      fetchStatus({ unix: suite.socket }).then(
        () => true,
        () => false,
      );
    await eventually(answers, 20_000, "the arbiter answering again");
  });
  return {
    drain,
    async stop(): Promise<void> {
      suite.arbiter.spawned.proc.kill("SIGSTOP");
      filler = fillAcceptQueue(suite.socket);
      const { held } = await new EventStream(filler.stdout).next("full");
      expect(held).toBeGreaterThan(0);
    },
  };
}
