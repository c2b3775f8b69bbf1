/**
 * A goodbye sent behind a request whose answer the client no longer reads: `ivsh guest send` asks a status
 * (is the receiver still there?), says goodbye one-way and exits before the answer comes. The arbiter's
 * answer then fails (EPIPE: the socket is closed), and the goodbye, already read or still in the socket,
 * must be handled as a goodbye all the same, not dropped with the connection and logged as a disconnect.
 */
import { afterEach, expect, test } from "bun:test";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, runCli } from "./helpers/processes.ts";
import { rawClient, requestFrame } from "./helpers/raw.ts";

let paths: TestPaths | undefined;
afterEach(() => paths?.cleanup());

/** Sessions that each ask a status, say goodbye behind it and close at once, unanswered. */
const SESSIONS = 12;

test("a goodbye behind a request whose answer the closed client never reads is still a goodbye", async () => {
  paths = testPaths("goodbye-unread");
  const arbiter = await ArbiterProcess.start(paths, { extra: ["-v"] });
  for (let session = 0; session < SESSIONS; session++) {
    const client = await rawClient(paths.socket);
    await client.hello(`leaver ${session}`);
    // One write, as the client library batches them; then the process is gone (its socket closed).
    client.write(requestFrame("status", 2, { limit: 1, onlyClient: 1 }), requestFrame("bye", 3, {}));
    client.socket.terminate();
  }
  const where = ["--socket", paths.socket, "--region", paths.region];
  await eventually(
    async () => JSON.parse((await runCli(["status", ...where, "--json"])).stdout).clients.length === 0,
    20_000,
    "every session ended",
  );
  await arbiter.stop();
  const lines = (await arbiter.spawned.stderr).split("\n").filter((line) => line.includes("'leaver "));
  expect(lines.filter((line) => line.includes(" disconnected: "))).toEqual([]);
  expect(lines.filter((line) => line.includes(" said goodbye"))).toHaveLength(SESSIONS);
});
