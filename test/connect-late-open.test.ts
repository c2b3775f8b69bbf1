/**
 * A connection that opens only after the client gave up on it (3 s): a listener whose accept queue is full
 * drops the SYN, and the kernel retries it for seconds. `Bun.connect` went on after the timeout, and the
 * socket it opened late was never closed: an fd held, the peer (a bridge, an arbiter) kept a connection
 * nobody would greet, and a script whose connect() failed did not exit until the peer hung up.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { EventStream, spawnFixture } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { testWithTool } from "./helpers/tools.ts";

/**
 * A TCP listener with a backlog of one, filled at once by two connections of its own, so the client's SYN
 * is dropped and retried; it accepts only when told ("accept" on stdin), then says whether the client's
 * connection was closed by the client ("eof") or not within 20 s ("open").
 */
const FULL_LISTENER = `
import json, socket, sys
def say(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(0)
port = server.getsockname()[1]
fillers = []
for _ in range(2):
    filler = socket.socket()
    filler.setblocking(False)
    filler.connect_ex(("127.0.0.1", port))
    fillers.append(filler)
own = {filler.getsockname()[1] for filler in fillers}
say("listening", port=port)
sys.stdin.readline()
while True:
    conn, peer = server.accept()
    if peer[1] in own:
        continue
    say("accepted")
    conn.settimeout(20)
    try:
        say("eof" if conn.recv(1) == b"" else "data")
    except socket.timeout:
        say("open")
    break
`;

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("late-open");
  writeFileSync(paths.region, Buffer.alloc(1 << 20));
});
afterAll(() => paths?.cleanup());

testWithTool(
  "python3",
  "a connection that opens after connect() gave up on it is closed, and the process exits",
  async () => {
    const listener = tracked(
      Bun.spawn(["python3", "-c", FULL_LISTENER], { stdin: "pipe", stdout: "pipe", stderr: "inherit" }),
    );
    const said = new EventStream(listener.stdout);
    try {
      const { port } = await said.next("listening");
      const client = spawnFixture("slow-connect", { tcp: `127.0.0.1:${port}`, region: paths.region });
      const failed = await client.events.next("failed", 30_000);
      expect(failed.code).toBe("ArbiterUnreachable");
      listener.stdin.write("accept\n");
      await listener.stdin.flush();
      await said.next("accepted", 30_000);
      expect((await said.next("eof", 30_000)).event).toBe("eof");
      expect(await client.exit()).toBe(0);
    } finally {
      listener.kill();
      await listener.exited;
    }
  },
  90_000,
);
