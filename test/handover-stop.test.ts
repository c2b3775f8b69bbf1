/**
 * An arbiter stopped while it serves a connection a bridge handed over (src/host/arbiter.ts, stop): that
 * connection is its own, not its listener's, so the stop must close it; left open, it kept the stopped
 * arbiter's process alive for as long as the guest kept its end open.
 */
import { afterAll, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { socketGuestfwd } from "./helpers/guestfwd.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EXIT_BOUND_MS } from "./helpers/processes.ts";
import { orStillWaiting } from "./helpers/silent-arbiter.ts";

const paths = testPaths("handover-stop");
afterAll(() => paths.cleanup());

test("SIGTERM to an arbiter serving a handed-over guest connection: it exits, closing that connection", async () => {
  const arbiter = await ArbiterProcess.start(paths);
  const forward = socketGuestfwd("stopping-vm", paths.socket);
  const client = await connect({
    tcp: `127.0.0.1:${forward.port}`,
    region: paths.region,
    name: "handed",
    reconnectTimeoutMs: 60_000,
  });
  try {
    expect(client.vm).toBe("stopping-vm");
    expect(await forward.bridges.at(-1)!.exited).toBe(0); // handed over: the arbiter holds the connection
    const exited = arbiter.spawned.proc.exited.then(() => "exited");
    arbiter.spawned.proc.kill("SIGTERM");
    // A liveness bound: the stop takes milliseconds; without closing the connection it never exited.
    expect(await orStillWaiting(exited, EXIT_BOUND_MS)).toBe("exited");
    expect(arbiter.spawned.proc.exitCode).toBe(0);
  } finally {
    await client.close({ waitForArbiter: false });
    forward.stop();
    await arbiter.stop();
  }
}, 60_000);
