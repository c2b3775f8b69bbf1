/**
 * Ctrl-C while a guest's command is resuming its session (its arbiter restarted, its VM's address not
 * taking connections yet: here a listener whose accept queue is full, so the kernel drops the SYN). The
 * resume's connect looked at no signal and close() did not end it: the command had said it was
 * interrupted, but the process stayed until the connect's 3 s ran out. close() now ends a connect in
 * progress, as connect()'s signal ends the first one (connect-tcp-interrupted.test.ts).
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { join } from "node:path";
import { fetchStatus } from "../src/guest/inspect.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EventStream, eventually, spawnBun } from "./helpers/processes.ts";
import { FILL_BACKLOG_PY, spawnPython, synSent } from "./helpers/tcp-backlog.ts";
import { testWithTool } from "./helpers/tools.ts";

/**
 * A VM's address as a stand-in: a TCP listener with a backlog of one that relays its first connection to
 * the arbiter's socket (argv[1]), then fills its accept queue with connections of its own and takes no
 * more, as a host slow to take connections does: the kernel drops a later SYN and retries it for seconds.
 */
const RELAY_THEN_FULL = `
import json, socket, sys, threading
server = socket.socket()
server.bind(("127.0.0.1", 0))
server.listen(0)
port = server.getsockname()[1]
print(json.dumps({"event": "listening", "port": port}), flush=True)
guest, _ = server.accept()
${FILL_BACKLOG_PY}
arbiter = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
arbiter.connect(sys.argv[1])
def pump(source, target):
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            target.sendall(data)
    except OSError:
        pass
    for end in (source, target):
        try:
            end.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
threading.Thread(target=pump, args=(guest, arbiter), daemon=True).start()
threading.Thread(target=pump, args=(arbiter, guest), daemon=True).start()
print(json.dumps({"event": "relaying"}), flush=True)
sys.stdin.read()
`;

let paths: TestPaths;
let arbiter: ArbiterProcess;
beforeAll(async () => {
  paths = testPaths("resume-tcp-interrupted");
  arbiter = await ArbiterProcess.start(paths, { lease: "5s" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

testWithTool(
  "python3",
  "ivsh guest recv interrupted while its resume's TCP connect hangs ends at once, saying it was interrupted",
  async () => {
    const relay = spawnPython(RELAY_THEN_FULL, paths.socket);
    const events = new EventStream(relay.stdout);
    const port = Number((await events.next("listening")).port);
    const out = join(paths.dir, "out");
    const words = ["guest", "recv", "--connect", `127.0.0.1:${port}`, "--region", paths.region];
    const command = spawnBun([CLI, ...words, "--out", out, "--channel", "resume-interrupted"]);
    let killed = false;
    try {
      await events.next("relaying");
      // Parked waiting for a sender, as the test means: listed as a client only, it may still be setting
      // up its channel, a request the signal did not end while the link was down (the lead was told).
      const waiting = async () => {
        const { report } = await fetchStatus({ unix: paths.socket });
        const client = report.clients.find((listed) => listed.pid === command.proc.pid);
        return (
          client !== undefined &&
          report.sync.some((object) => object.waiters > 0 && object.holders.includes(client.clientId))
        );
      };
      await eventually(waiting, 20_000, "the receiver waiting for a sender");
      // The arbiter goes away; the VM's address takes no connection now.
      const before = synSent(port);
      await arbiter.kill9();
      killed = true;
      // The resume's connect began after the last look that found no SYN of it (`unseen`): measured from
      // there, an exit that waited for the connect's 3 s comes after 3 s however late the look and the
      // signal are on a loaded machine (from the signal alone, a late look shortened what was left).
      let unseen = performance.now();
      await eventually(
        async () => {
          const looked = performance.now();
          if (synSent(port) > before) return true;
          unseen = looked;
          return false;
        },
        20_000,
        "the resume sending its SYN",
      );
      command.proc.kill("SIGINT");
      const code = await command.exit();
      const tookMs = Math.round(performance.now() - unseen);
      expect({ code, stderr: await command.stderr }).toEqual({
        code: 130,
        stderr: expect.stringContaining("interrupted by SIGINT"),
      });
      // The signal, not the connect's 3 s, ended it: ~0.1 s on a quiet machine.
      expect(tookMs).toBeLessThan(2500);
    } finally {
      command.proc.kill("SIGKILL");
      relay.kill();
      await relay.exited;
      if (killed) await arbiter.restart();
    }
  },
  60_000,
);
