/**
 * What a guest's TCP connect (src/guest/tcp-open.ts) leaves behind once it is over, in a program that goes
 * on (the library's connect(), which a long-lived program calls again): no timer that keeps the process
 * alive after its work, no listener on a signal it keeps using, no socket of an attempt given up or
 * failed; and a SYN never answered ends at the connect's own timeout, not the kernel's. Real listeners: a Bun server, a python3 one whose accept queue is full (its SYNs dropped).
 */
import { afterAll, expect, test } from "bun:test";
import { readdirSync, readlinkSync } from "node:fs";
import { join } from "node:path";
import { openTcp } from "../src/guest/tcp-open.ts";
import { countedSignal } from "./helpers/leftovers.ts";
import { EventStream, eventually, exitOrKill, spawnBun } from "./helpers/processes.ts";
import { FULL_LISTENER_PY, spawnPython, synSent } from "./helpers/tcp-backlog.ts";
import { testWithTool } from "./helpers/tools.ts";

const TCP_OPEN = join(import.meta.dir, "../src/guest/tcp-open.ts");
const ignore = { data() {}, open() {}, close() {} };

const FULL_LISTENER = `
import json, socket, sys
${FULL_LISTENER_PY}
sys.stdin.read()
`;

const servers: { stop(closeActive?: boolean): void }[] = [];
afterAll(() => {
  for (const server of servers) server.stop(true);
});

/** The sockets this process has open now. */
function openSockets(): number {
  return readdirSync("/proc/self/fd").filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).startsWith("socket:");
    } catch {
      return false;
    }
  }).length;
}

// A name is looked up under a timer of the connect's timeout: left running, it held the process for the
// whole timeout after its work was done (`ivsh status --connect localhost:PORT` took 3 s more to exit).
test("a connect to a name, done and closed, leaves nothing that keeps its process alive", async () => {
  const script = `
    const { openTcp } = await import(${JSON.stringify(TCP_OPEN)});
    const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {}, open(s) { s.end(); } } });
    const socket = await openTcp({ hostname: "localhost", port: server.port }, { data() {}, close() {} }, 600000);
    socket.end();
    server.stop(true);
    console.log(JSON.stringify({ event: "connected" }));`;
  const child = spawnBun(["-e", script]);
  await child.events.next("connected");
  // A liveness bound far below the 600 s timeout the timer would have held it for.
  expect(await exitOrKill(child.proc, 60_000)).toBe(0);
}, 90_000);

// A program that connects again and again under one signal (its own lifetime's) added a listener each time.
test("a connect to a name takes its listener off the caller's signal once done", async () => {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {}, open() {} } });
  servers.push(server);
  const { signal, listening } = countedSignal();
  for (let round = 0; round < 3; round++) {
    const socket = await openTcp({ hostname: "localhost", port: server.port }, ignore, 20_000, signal);
    socket.end();
  }
  expect(listening()).toBe(0);
});

// Given up (the signal), the SYN still unanswered: its socket went on sending SYNs for two minutes.
testWithTool(
  "python3",
  "a connect given up while its SYN goes unanswered closes its socket",
  async () => {
    const listener = spawnPython(FULL_LISTENER);
    try {
      const port = Number((await new EventStream(listener.stdout).next("listening")).port);
      const before = synSent(port);
      const controller = new AbortController();
      const connecting = openTcp({ hostname: "127.0.0.1", port }, ignore, 60_000, controller.signal);
      const outcome = connecting.then(
        () => "connected",
        (error: Error) => error.message,
      );
      await eventually(async () => synSent(port) > before, 20_000, "the connect sending its SYN");
      controller.abort();
      expect(await outcome).toMatch(/interrupted|abort/i);
      expect(synSent(port)).toBe(before);
    } finally {
      listener.kill();
      await listener.exited;
    }
  },
  60_000,
);

// Refused: each failed attempt's socket stayed open, one descriptor more for every retry.
test("a refused connect closes its socket", async () => {
  const server = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {}, open() {} } });
  const port = server.port;
  server.stop(true); // nothing listens there now: refused
  const refuse = () =>
    openTcp({ hostname: "127.0.0.1", port }, ignore, 20_000).then(
      () => "connected",
      (error: Error) => error.message,
    );
  expect(await refuse()).toMatch(/ECONNREFUSED|refused/i);
  const before = openSockets();
  for (let round = 0; round < 10; round++) await refuse();
  expect(openSockets()).toBeLessThanOrEqual(before);
});

// A SYN that goes unanswered is retried by the kernel for about two minutes: the connect's own timeout
// must end it (`ivsh status --connect HOST:PORT` to a host whose listener takes no more).
testWithTool(
  "python3",
  "a connect whose SYN goes unanswered fails at its own timeout",
  async () => {
    const listener = spawnPython(FULL_LISTENER);
    try {
      const port = Number((await new EventStream(listener.stdout).next("listening")).port);
      const before = synSent(port); // the listener's own filler whose SYN it drops
      const outcome = await openTcp({ hostname: "127.0.0.1", port }, ignore, 300).then(
        () => "connected",
        (error: Error) => error.message,
      );
      expect(outcome).toBe("there was no answer within 300 ms");
      expect(synSent(port)).toBe(before);
    } finally {
      listener.kill();
      await listener.exited;
    }
  },
  60_000,
);

// Already aborted: a name's lookup, which nothing can cancel, was started anyway (one whose DNS server
// does not answer then held the caller for its ~10 s before it was told it had been interrupted). A
// .invalid name never resolves (RFC 6761): a lookup started shows as its failure, not the interruption.
test("a connect to a name with its signal already aborted is refused before looking the name up", async () => {
  const outcome = await openTcp(
    { hostname: "arbiter.invalid", port: 1 },
    ignore,
    20_000,
    AbortSignal.abort(),
  ).then(
    () => "connected",
    (error: Error) => error.message,
  );
  expect(outcome).toBe("Failed to connect to the arbiter since it was aborted");
});
