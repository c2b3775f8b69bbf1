/**
 * A connect given up on (3 s) whose SYN a listener with a full accept queue drops, and the kernel retries
 * for about two minutes. `Bun.connect` went on after the timeout: first the socket it opened late was never
 * closed (an fd held, the peer, a bridge or an arbiter, kept a connection nobody would greet); then, that
 * closed once open, a script whose connect() failed still did not exit while the kernel retried (nor
 * `ivsh status --connect`, its error printed). The connect is now one the client closes when it gives up:
 * the process exits by itself, and the listener, accepting later, finds nothing of it.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { EventStream, spawnFixture } from "./helpers/processes.ts";
import { FILL_BACKLOG_PY, spawnPython } from "./helpers/tcp-backlog.ts";
import { testWithTool } from "./helpers/tools.ts";

/**
 * A TCP listener with a backlog of one, filled at once by two connections of its own, so the client's SYN
 * is dropped and retried; it accepts only when told ("accept" on stdin), then says whether a connection of
 * the client's came (found: "accepted") or none within 3 s (found: "none").
 */
const FULL_LISTENER = `
import json, socket, sys
def say(event, **fields):
    print(json.dumps({"event": event, **fields}), flush=True)
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(0)
port = server.getsockname()[1]
${FILL_BACKLOG_PY}
own = {filler.getsockname()[1] for filler in fillers}
say("listening", port=port)
sys.stdin.readline()
server.settimeout(3)
while True:
    try:
        conn, peer = server.accept()
    except socket.timeout:
        say("accept", found="none")
        break
    if peer[1] in own:
        continue
    say("accept", found="accepted")
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
  "a TCP connect given up on is ended: the process exits by itself, and no connection opens later",
  async () => {
    const listener = spawnPython(FULL_LISTENER);
    const said = new EventStream(listener.stdout);
    try {
      const { port } = await said.next("listening");
      const client = spawnFixture("slow-connect", { tcp: `127.0.0.1:${port}`, region: paths.region });
      const failed = await client.events.next("failed", 30_000);
      expect(failed.code).toBe("ArbiterUnreachable");
      // While the listener still drops the SYN: nothing of the attempt may keep the process.
      expect(await client.exit()).toBe(0);
      listener.stdin.write("accept\n");
      await listener.stdin.flush();
      expect((await said.next("accept", 30_000)).found).toBe("none");
    } finally {
      listener.kill();
      await listener.exited;
    }
  },
  90_000,
);
