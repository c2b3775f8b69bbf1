/**
 * A TCP listener that takes no more connections, as a host slow to take them: its backlog of one filled by
 * connections of its own, so the kernel drops a client's SYN and retries it (python3 scripts, since Bun's
 * listen sets a backlog of its own).
 */
import { readFileSync } from "node:fs";
import { tracked } from "./reaper.ts";

/**
 * Python, at a script's top level after `server.listen(0)` and `port`: fills the accept queue with two
 * connections of its own, kept in `fillers` (their SYNs answered, never accepted).
 */
export const FILL_BACKLOG_PY = `fillers = []
for _ in range(2):
    filler = socket.socket()
    filler.setblocking(False)
    filler.connect_ex(("127.0.0.1", port))
    fillers.append(filler)`;

/**
 * Python, after `import json, socket`: a listener on 127.0.0.1 (`server`, `port`) whose accept queue is
 * full (FILL_BACKLOG_PY), its port told on stdout as {"event":"listening","port":P}.
 */
export const FULL_LISTENER_PY = `server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(0)
port = server.getsockname()[1]
${FILL_BACKLOG_PY}
print(json.dumps({"event": "listening", "port": port}), flush=True)`;

/** Runs a python3 `script` with `args`, stdin and stdout piped to this test; killed with the test file. */
export function spawnPython(script: string, ...args: string[]) {
  return tracked(
    Bun.spawn(["python3", "-c", script, ...args], { stdin: "pipe", stdout: "pipe", stderr: "inherit" }),
  );
}

/** Connections to 127.0.0.1:`port` still sending their SYN (/proc/net/tcp state 02, SYN_SENT). */
export function synSent(port: number): number {
  const remote = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  return readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .filter((line) => {
      const fields = line.trim().split(/\s+/);
      return fields[2] === remote && fields[3] === "02";
    }).length;
}
