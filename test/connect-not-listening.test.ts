/**
 * A stream socket bound at the path by a live process that does not listen (or no longer does). Bun
 * reports the refusal as ECONNREFUSED, as it does a full accept queue's EAGAIN, and the datagram probe
 * that was to tell them apart says EPROTOTYPE for any stream socket bound, listening or not: the client
 * said "its queue of connections waiting to be accepted is full (... try again)" of a socket nothing
 * listens on, and connect() waited out its whole timeout (30 s by default) for it.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { EventStream, runCli } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { testWithTool } from "./helpers/tools.ts";

/** Binds a stream socket at argv[1] and never listens; says so, then holds it until stdin ends. */
const BOUND_NOT_LISTENING = `
import json, socket, sys
bound = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
bound.bind(sys.argv[1])
print(json.dumps({"event": "bound"}), flush=True)
sys.stdin.read()
`;

let paths: TestPaths;
let holder: ReturnType<typeof bindNotListening> | undefined;
beforeAll(() => {
  paths = testPaths("not-listening");
  writeFileSync(paths.region, Buffer.alloc(1 << 20));
});
afterAll(async () => {
  holder?.kill();
  await holder?.exited;
  paths?.cleanup();
});

function bindNotListening() {
  return tracked(
    Bun.spawn(["python3", "-c", BOUND_NOT_LISTENING, paths.socket], {
      stdin: "pipe",
      stdout: "pipe",
      stderr: "inherit",
    }),
  );
}

async function boundSocket(): Promise<void> {
  if (holder) return;
  holder = bindNotListening();
  await new EventStream(holder.stdout).next("bound");
}

testWithTool(
  "python3",
  "status of a socket bound but not listening: nothing listens, not a full queue",
  async () => {
    await boundSocket();
    const result = await runCli(["status", "--socket", paths.socket]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).not.toContain("accepts no more connections");
    expect(result.stderr).toContain("nothing listens on it");
  },
  30_000,
);

testWithTool(
  "python3",
  "connect() to a socket bound but not listening fails at once, not after its timeout",
  async () => {
    await boundSocket();
    const connecting = connect({ socket: paths.socket, region: paths.region, connectTimeoutMs: 600_000 });
    // A liveness bound far below the timeout: before the fix it was still retrying ("queue full").
    const outcome = await Promise.race([
      connecting.then(
        () => "connected",
        (error: unknown) => error,
      ),
      Bun.sleep(20_000).then(() => "still trying after 20 s"),
    ]);
    await expectRejection(Promise.reject(outcome), "ArbiterUnreachable", /nothing listens on it/);
  },
  40_000,
);
