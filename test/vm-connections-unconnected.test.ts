/**
 * --vm-connections after a restart with a lower limit, while some of a VM's sessions have no connection
 * yet (their processes stopped through the restart, their sessions kept for their lease): a new session counts against
 * the VM's sessions that have a connection, not all of them (src/host/handlers.ts checkVmConnections,
 * ConnectionLimit.newSessionRefusal). With 3 sessions of VM 'host' kept and 1 of them connected, a new one
 * opens (1 < 2); with 2 connected, the next is refused, though the VM has fewer connections (2) than
 * sessions (4), which is all the connection count alone (joinVm) asks. Real processes: the arbiter, and
 * two `ivsh guest recv` stopped (SIGSTOP) while they wait: killed, their sessions would end with their
 * connections.
 */
import { expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EXIT_BOUND_MS, eventually } from "./helpers/processes.ts";
import { guestSaying } from "./helpers/transfer.ts";

test("after a restart with a lower --vm-connections, sessions without a connection do not hold new ones back; connected ones do", async () => {
  const paths = testPaths("mut13-vm-conns-unconnected");
  // Long enough that the killed ends' sessions outlive the restart.
  const arbiter = await ArbiterProcess.start(paths, { lease: "60s" });
  const made: Client[] = [];
  const open = async (name: string) => {
    const client = await connect({
      socket: paths.socket,
      region: paths.region,
      name,
      connectTimeoutMs: 5000,
    });
    made.push(client);
    return client;
  };
  const stopped: ReturnType<typeof guestSaying>[] = [];
  try {
    const kept = await open("kept");
    for (const channel of ["stopped-1", "stopped-2"]) {
      const end = guestSaying(paths, ["recv", "--channel", channel, "--out", "/dev/null", "--progress"]);
      stopped.push(end);
      await eventually(async () => end.said.text.includes("waiting for a sender"), EXIT_BOUND_MS, channel);
      end.proc.kill("SIGSTOP");
    }
    await arbiter.kill9();
    arbiter.flags.extra = ["--vm-connections", "2"];
    await arbiter.restart();
    await kept.mutex("after-restart"); // resumed: VM 'host' has 3 sessions, 1 of them connected
    await open("second");
    await expectRejection(
      open("third"),
      "QuotaExceeded",
      /VM 'host' already has 2 connections open, its --vm-connections limit of 2/,
    );
    expect(made).toHaveLength(2);
  } finally {
    for (const end of stopped) end.proc.kill("SIGKILL");
    for (const client of made) await client.close().catch(() => undefined);
    await arbiter.stop();
    paths.cleanup();
  }
}, 90_000);
