/**
 * Ctrl-C while a guest's command is still setting up its channel and its link to the arbiter is down: the
 * channel's claim (a syncOpen request) was sent, the link dropped before its answer, and the request waited
 * in the client's queue for a resume. Nothing watched the command's signal there: the command ignored the
 * Ctrl-C until the reconnect timeout (30 s) ran out, and said nothing meanwhile. The signal now ends the
 * request, as it ends every other wait of the command: "interrupted by SIGINT", exit 130.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EventStream, spawnBun } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { testWithTool } from "./helpers/tools.ts";

/**
 * A stand-in for the path to the arbiter (argv[1]: tcp or unix, argv[2]: the arbiter's socket, argv[3]:
 * where to listen for unix): relays its first connection until the guest sends the frame naming argv[4]
 * (a request of the channel's setup), then drops the link before passing it on and takes no connection any more, as
 * an arbiter that went away does. The resume that follows finds nobody and keeps trying.
 */
const RELAY_THEN_CUT = `
import json, socket, sys, threading
kind, arbiter_path, listen_path, marker = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4].encode()
if kind == "tcp":
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    where = server.getsockname()[1]
else:
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(listen_path)
    where = listen_path
server.listen(1)
print(json.dumps({"event": "listening", "where": where}), flush=True)
guest, _ = server.accept()
arbiter = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
arbiter.connect(arbiter_path)
cut = threading.Event()
def drop():
    if cut.is_set():
        return
    cut.set()
    server.close()
    for end in (guest, arbiter):
        try:
            end.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        end.close()
    print(json.dumps({"event": "cut"}), flush=True)
def pump(source, target, watch):
    try:
        while not cut.is_set():
            data = source.recv(65536)
            if not data:
                break
            if watch and marker in data:
                drop()
                return
            target.sendall(data)
    except OSError:
        pass
threading.Thread(target=pump, args=(guest, arbiter, True), daemon=True).start()
threading.Thread(target=pump, args=(arbiter, guest, False), daemon=True).start()
print(json.dumps({"event": "relaying"}), flush=True)
sys.stdin.read()
`;

let paths: TestPaths;
let arbiter: ArbiterProcess;
beforeAll(async () => {
  paths = testPaths("setup-request-interrupted");
  arbiter = await ArbiterProcess.start(paths, { lease: "5s" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/** The channel's claim (syncOpen of 'channel:NAME'), or the sender's ring (alloc of 'channel:NAME:1'). */
const CASES = [
  ...(["recv", "send"] as const).flatMap((role) =>
    (["tcp", "unix"] as const).map((kind) => ({ role, kind, request: "claim" })),
  ),
  ...(["tcp", "unix"] as const).map((kind) => ({ role: "send" as const, kind, request: "ring" })),
];

for (const { role, kind, request } of CASES)
  testWithTool(
    "python3",
    `ivsh guest ${role} over ${kind} interrupted while its channel's ${request} waits for a resume ends at once, saying so`,
    async () => {
      const channel = `cut-${role}-${kind}-${request}`;
      const marker = request === "claim" ? `channel:${channel}` : `channel:${channel}:`;
      const listenPath = join(paths.dir, `relay-${channel}.sock`);
      const relay = tracked(
        Bun.spawn(["python3", "-c", RELAY_THEN_CUT, kind, paths.socket, listenPath, marker], {
          stdin: "pipe",
          stdout: "pipe",
          stderr: "inherit",
        }),
      );
      const events = new EventStream(relay.stdout);
      const where = (await events.next("listening")).where;
      const path = kind === "tcp" ? ["--connect", `127.0.0.1:${where}`] : ["--socket", String(where)];
      const file = join(paths.dir, channel);
      if (role === "send") writeFileSync(file, "some bytes to send\n");
      const io = role === "recv" ? ["--out", file] : [file];
      const command = spawnBun([
        CLI,
        "guest",
        role,
        ...path,
        "--region",
        paths.region,
        ...io,
        "--channel",
        channel,
      ]);
      try {
        await events.next("relaying");
        await events.next("cut");
        // The link is down with the request unanswered; the resume finds nobody and retries for 30 s.
        await Bun.sleep(300);
        command.proc.kill("SIGINT");
        // A liveness bound only: the reconnect timeout (30 s) is what ended it before, if anything.
        const code = await command.exit(10_000);
        expect({ code, stderr: await command.stderr }).toEqual({
          code: 130,
          stderr: expect.stringContaining("interrupted by SIGINT"),
        });
      } finally {
        command.proc.kill("SIGKILL");
        relay.kill();
        await relay.exited;
      }
    },
    60_000,
  );
