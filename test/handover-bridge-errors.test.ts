/**
 * An arbiter stopped (SIGTERM) with a handed-over guest connection open, and what a bridge says when the
 * hand-over cannot happen: its arbiter died (its sockets left), is from before hand-over, or is not there.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readdirSync, unlinkSync } from "node:fs";
import { basename, join } from "node:path";
import { closeFd } from "../src/ffi/index.ts";
import { connect } from "../src/guest/index.ts";
import { handoverPath } from "../src/host/handover.ts";
import { bridgeOnSocketPair, socketGuestfwd } from "./helpers/guestfwd.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually } from "./helpers/processes.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("handover-bridge");
});
afterAll(() => paths?.cleanup());

test("SIGTERM with a handed-over guest connection open: the arbiter stops cleanly (exit 0), no segfault", async () => {
  const own = testPaths("handover-stop");
  const host = await ArbiterProcess.start(own, { lease: "1s" });
  const guestfwd = socketGuestfwd("stopping-vm", own.socket);
  const client = await connect({ tcp: `127.0.0.1:${guestfwd.port}`, region: own.region, name: "guest" });
  try {
    host.spawned.proc.kill("SIGTERM");
    // The guest's heartbeats go on: before the fix, the first one after the stop met an unmapped region.
    expect(await host.spawned.proc.exited).toBe(0);
    expect(await host.spawned.stderr).not.toContain("Segmentation fault");
  } finally {
    await client.close();
    guestfwd.stop();
    await host.stop();
    own.cleanup();
  }
});

// A dead arbiter's sockets are left behind: connecting to them is refused (ECONNREFUSED). That is no
// arbiter either, and the relay's own error says so; stdin and stdout are the guest's one socket, as
// QEMU gives them, so the hand-over is tried (with stdout a pipe it is not).
test("a bridge whose arbiter died, its sockets left: one error, no 'relaying instead' warning", async () => {
  const socket = join(paths.dir, "dead.sock");
  const listen = (path: string) => `require("node:net").createServer().listen(${JSON.stringify(path)});`;
  const holder = Bun.spawn([
    process.execPath,
    "-e",
    `${listen(socket)} ${listen(handoverPath(socket))} setInterval(() => {}, 1000);`,
  ]);
  const names = [basename(socket), basename(handoverPath(socket))];
  await eventually(
    async () => names.every((name) => readdirSync(paths.dir).includes(name)),
    10_000,
    "the listener's sockets",
  );
  holder.kill("SIGKILL");
  await holder.exited;
  const { bridge, mine } = bridgeOnSocketPair("orphan-vm", socket);
  try {
    expect(await bridge.exited).toBe(1);
    const said = (await new Response(bridge.stderr).text()).trim().split("\n");
    expect(said).toEqual([
      expect.stringContaining(`found none on ${socket}: nothing listens on it (ECONNREFUSED)`),
    ]);
  } finally {
    closeFd(mine);
  }
}, 60_000); // two processes started: a file run alone gives bun's 5 s, too short on a loaded machine

// An arbiter from before hand-over listens on its socket but has no hand-over socket beside it: that
// missing socket (ENOENT) is no absent arbiter, and the bridge says it relays instead, and why.
test("a bridge whose arbiter has no hand-over socket relays the connection, saying so", async () => {
  const old = testPaths("handover-old");
  const oldArbiter = await ArbiterProcess.start(old);
  try {
    unlinkSync(handoverPath(old.socket));
    const { bridge, mine } = bridgeOnSocketPair("old-vm", old.socket);
    closeFd(mine); // the guest leaves at once: the relay ends with it
    await bridge.exited;
    expect(await new Response(bridge.stderr).text()).toContain(
      "relaying the connection of VM 'old-vm' instead of handing it over",
    );
  } finally {
    await oldArbiter.stop();
    old.cleanup();
  }
});

test("a bridge with no arbiter to hand over to says only that: one error, no 'relaying instead' warning", async () => {
  const socket = join(paths.dir, "nobody.sock");
  const { bridge, mine } = bridgeOnSocketPair("absent-vm", socket, { stdout: "pipe" });
  try {
    expect(await bridge.exited).toBe(1);
    const said = (await new Response(bridge.stderr).text()).trim().split("\n");
    expect(said).toEqual([expect.stringContaining(`found none on ${socket}`)]);
  } finally {
    closeFd(mine);
  }
}, 60_000);
