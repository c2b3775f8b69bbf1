/**
 * A Unix socket whose accept queue is full, as a stopped or overloaded arbiter's is: python3 connects to it
 * without blocking until the kernel refuses one (EAGAIN), then holds those connections until it is killed.
 * With `listen`, it first takes the socket's path itself (removing a dead arbiter's socket file) and
 * listens with a backlog of one, never accepting. Its stdout says {"event": "full", "held": N} once full.
 */
import { tracked } from "./reaper.ts";

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
