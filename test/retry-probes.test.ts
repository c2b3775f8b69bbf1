/**
 * A client retrying an arbiter that is away (a resume after kill -9, or connect() after a hello the
 * connection closed on) meets ECONNREFUSED on every try. Each try built the refusal's whole words, which
 * open a probe socket for the EMFILE check (src/guest/no-socket.ts) and another for the full-queue check
 * (link-errors.ts queueIsFull): three socket() calls per try, for words nobody read until the last one.
 * 1 000 clients of `ivsh bench --scale` retrying 4 times a second took with them the CPU the restarting
 * arbiter needed. A try now opens only its own socket; the words (and their probes) come once, when the
 * refusal is told. Counted with strace in the client's own process.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EventStream, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { straceUnusable, testUnless, toolMissing } from "./helpers/tools.ts";

/**
 * Connects (argv[2]: connect()'s options as JSON), counting the tries (Bun.connect calls); after "go" on
 * stdin, asks for the status, which waits out the resume, and prints how it ended.
 */
const CLIENT = `
import { connect } from ${JSON.stringify(join(REPO, "src/guest/index.ts"))};
let tries = 0;
const original = Bun.connect;
Bun.connect = ((options) => { tries++; return original(options); }) as typeof Bun.connect;
const say = (event) => console.log(JSON.stringify({ ...event, tries }));
const options = JSON.parse(process.argv[2]);
try {
  const client = await connect(options);
  say({ event: "connected" });
  for await (const _ of console) break;
  await client.status();
  say({ event: "answered" });
} catch (error) {
  say({ event: "failed", message: error.message });
}
process.exit(0);
`;

/** Listens at argv[1], closes the first connection on its hello, then stops listening (the file stays). */
const CLOSE_ONCE = `
import json, socket, sys
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind(sys.argv[1])
listener.listen(8)
print(json.dumps({"event": "listening"}), flush=True)
accepted, _ = listener.accept()
accepted.recv(64)
accepted.close()
listener.close()
print(json.dumps({"event": "gone"}), flush=True)
sys.stdin.read()
`;

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("retry-probes");
});
afterAll(() => paths?.cleanup());

/** The client under strace: what it said, and the Unix stream sockets it made (socket(2) calls). */
function tracedClient(options: Record<string, unknown>) {
  const script = join(paths.dir, "client.ts");
  writeFileSync(script, CLIENT);
  const log = join(paths.dir, "client.strace");
  const proc = tracked(
    Bun.spawn(
      [
        "strace",
        "-f",
        "-qq",
        "-e",
        "trace=socket",
        "-o",
        log,
        process.execPath,
        script,
        JSON.stringify(options),
      ],
      { stdin: "pipe", stdout: "pipe", stderr: "inherit" },
    ),
  );
  const events = new EventStream(proc.stdout);
  const socketsMade = async () => {
    expect(await exitOrKill(proc, 60_000)).toBe(0);
    return readFileSync(log, "utf8").match(/socket\(AF_UNIX, SOCK_STREAM/g)?.length ?? 0;
  };
  return { proc, events, socketsMade };
}

/** Each try's own socket, and the two probes of the words told once at the end (EMFILE, full queue). */
const WORDS_PROBES = 2;

const noStrace = straceUnusable();

/** At most one socket per try, and the refusal's own probes once (said with the counts when it fails). */
async function expectOneSocketPerTry(
  client: { socketsMade(): Promise<number> },
  tries: number,
): Promise<void> {
  const sockets = await client.socketsMade();
  expect(`${sockets} sockets for ${tries} tries`).toBe(
    `${Math.min(sockets, tries + WORDS_PROBES)} sockets for ${tries} tries`,
  );
}

testUnless(
  noStrace,
  "a resume retrying an arbiter killed with -9 opens one socket per try",
  async () => {
    const arbiter = await ArbiterProcess.start(paths);
    const client = tracedClient({ socket: paths.socket, region: paths.region, reconnectTimeoutMs: 3000 });
    try {
      await client.events.next("connected");
      await arbiter.kill9(); // its socket file stays: every try is refused (ECONNREFUSED)
      client.proc.stdin.write("go\n");
      client.proc.stdin.flush();
      const ended = (await client.events.next("failed")) as { tries: number; message: string };
      // The words are the refusal's as before: it did not come back.
      expect(ended.message).toContain("did not come back within 3 s");
      expect(ended.tries).toBeGreaterThan(5);
      // Before: 3 per failed try (1 + 3 × (tries − 1)).
      await expectOneSocketPerTry(client, ended.tries);
    } finally {
      client.proc.kill();
      await arbiter.restart();
      await arbiter.stop();
    }
  },
  90_000,
);

testUnless(
  noStrace ?? toolMissing("python3"),
  "connect() retrying after a hello the connection closed on opens one socket per try",
  async () => {
    writeFileSync(paths.region, Buffer.alloc(1 << 20));
    const socket = join(paths.dir, "closes-once.sock");
    const listener = tracked(
      Bun.spawn(["python3", "-c", CLOSE_ONCE, socket], { stdin: "pipe", stdout: "pipe", stderr: "inherit" }),
    );
    const said = new EventStream(listener.stdout);
    await said.next("listening");
    const client = tracedClient({ socket, region: paths.region, connectTimeoutMs: 3000 });
    try {
      const ended = (await client.events.next("failed")) as { tries: number; message: string };
      await said.next("gone");
      // The refusal of the last try, worded as before.
      expect(ended.message).toContain(
        `Failed to connect to the arbiter at ${socket} since nothing listens on it`,
      );
      expect(ended.tries).toBeGreaterThan(5);
      await expectOneSocketPerTry(client, ended.tries);
    } finally {
      client.proc.kill();
      listener.kill();
    }
  },
  90_000,
);
