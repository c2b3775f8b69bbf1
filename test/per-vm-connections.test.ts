/**
 * `ivsh host --vm-connections N`: the connections one VM may have open at once. Without it one VM opening
 * connections took every one the arbiter's open-file limit allows, and every other VM's, and the host's,
 * were refused NoSpace. VMs are real guests' paths here: clients connecting over TCP through `ivsh bridge
 * --vm NAME` processes, as QEMU's guestfwd runs them (handing their connection over, or relaying it).
 */
import { expect, test } from "bun:test";
import { type Client, type ConnectOptions, connect } from "../src/guest/index.ts";
import { decodeError } from "../src/protocol/codec.ts";
import { expectRejection } from "./helpers/errors.ts";
import { fakeGuestfwd, socketGuestfwd } from "./helpers/guestfwd.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, eventually, runCli } from "./helpers/processes.ts";
import { helloFrame, rawClient } from "./helpers/raw.ts";

/** For an arbiter's start that failed (a flag it does not know): its places are removed all the same. */
function cleanedUp(paths: TestPaths) {
  return (error: unknown): never => {
    paths.cleanup();
    throw error;
  };
}

function refusal(vm: string, open: number, limit: number): RegExp {
  return new RegExp(
    `VM '${vm}' already has ${open} connections open, its --vm-connections limit of ${limit}.*: close some of its clients, or raise --vm-connections`,
  );
}

/** Clients made here, closed at the end whatever happened. */
function clientsOf(paths: { region: string }) {
  const made: Client[] = [];
  const open = async (options: Partial<ConnectOptions> & { name: string }) => {
    const client = await connect({ region: paths.region, connectTimeoutMs: 5000, ...options });
    made.push(client);
    return client;
  };
  const closeAll = async () => {
    for (const client of made) await client.close().catch(() => undefined);
  };
  return { open, closeAll };
}

test("a VM at its --vm-connections limit is refused another, naming it; other VMs and the host still connect", async () => {
  const paths = testPaths("iso-vm-conns");
  const arbiter = await ArbiterProcess.start(paths, { extra: ["--vm-connections", "3"] }).catch(
    cleanedUp(paths),
  );
  const greedyVm = socketGuestfwd("greedy", paths.socket);
  const greedyRelayed = fakeGuestfwd("greedy", paths.socket);
  // Relayed: its count comes from the identify, as a handed-over one's from the hand-over.
  const politeVm = fakeGuestfwd("polite", paths.socket);
  const clients = clientsOf(paths);
  try {
    const greedy: Client[] = [];
    for (let index = 0; index < 3; index++)
      greedy.push(await clients.open({ tcp: `127.0.0.1:${greedyVm.port}`, name: `greedy-${index}` }));
    await expectRejection(
      clients.open({ tcp: `127.0.0.1:${greedyVm.port}`, name: "greedy-handed-over" }),
      "QuotaExceeded",
      refusal("greedy", 3, 3),
    );
    await expectRejection(
      clients.open({ tcp: `127.0.0.1:${greedyRelayed.port}`, name: "greedy-relayed" }),
      "QuotaExceeded",
      refusal("greedy", 3, 3),
    );
    // A status asked from inside it is a connection too (counted from its hand-over, before anything is
    // read: else a guest could hold any number of them for the hello wait), refused naming the limit.
    const guestStatus = await runCli([
      "status",
      "--connect",
      `127.0.0.1:${greedyVm.port}`,
      "--region",
      paths.region,
    ]);
    expect(guestStatus.exitCode).toBe(1);
    expect(guestStatus.stderr).toMatch(refusal("greedy", 3, 3));
    await clients.open({ tcp: `127.0.0.1:${politeVm.port}`, name: "polite" });
    await clients.open({ ...clientConfig(paths), name: "host-client" });
    const report = JSON.parse((await runCli(["status", "--socket", paths.socket, "--json"])).stdout);
    const counted = Object.fromEntries(
      report.vms.map((vm: { vm: string; connections: number }) => [vm.vm, vm.connections]),
    );
    expect(counted).toEqual({ greedy: 3, polite: 1, host: 1 });
    expect(report.limits).toMatchObject({ vmConnections: 3, vmSlots: 0 });
    expect((await runCli(["status", "--socket", paths.socket])).stdout).toMatch(
      /^limits: --vm-connections 3$/m,
    );
    // A connection closed makes room for another.
    await greedy[0]!.close();
    await eventually(
      async () =>
        clients.open({ tcp: `127.0.0.1:${greedyVm.port}`, name: "greedy-again" }).then(
          () => true,
          () => false,
        ),
      10_000,
      "a new connection of VM greedy once one closed",
    );
  } finally {
    await clients.closeAll();
    for (const forward of [greedyVm, greedyRelayed, politeVm]) forward.stop();
    await arbiter.stop();
    paths.cleanup();
  }
}, 60_000);

test("the host's processes count together as VM 'host'; a status query and the VMs' bridges are not counted", async () => {
  const paths = testPaths("iso-vm-conns-host");
  const arbiter = await ArbiterProcess.start(paths, { extra: ["--vm-connections", "2"] }).catch(
    cleanedUp(paths),
  );
  const guestVm = socketGuestfwd("guest", paths.socket);
  const clients = clientsOf(paths);
  try {
    await clients.open({ ...clientConfig(paths), name: "host-1" });
    await clients.open({ ...clientConfig(paths), name: "host-2" });
    await expectRejection(
      clients.open({ ...clientConfig(paths), name: "host-3" }),
      "QuotaExceeded",
      /VM 'host' already has 2 connections open, its --vm-connections limit of 2 \(the host's processes with a session count together\)/,
    );
    const status = await runCli(["status", "--socket", paths.socket]);
    expect(status.stdout).toMatch(/^ {2}host: 2 clients .*; 2 connections$/m);
    // The bridge's own connection (a host process, it says no hello) does not count against the host.
    await clients.open({ tcp: `127.0.0.1:${guestVm.port}`, name: "in-guest" });
  } finally {
    await clients.closeAll();
    guestVm.stop();
    await arbiter.stop();
    paths.cleanup();
  }
}, 60_000);

test("a VM over a lowered --vm-connections after a restart keeps its sessions; only new connections are refused", async () => {
  const paths = testPaths("iso-vm-conns-restart");
  const arbiter = await ArbiterProcess.start(paths, { lease: "10s", extra: ["--vm-connections", "3"] }).catch(
    cleanedUp(paths),
  );
  const greedyVm = socketGuestfwd("greedy", paths.socket);
  const clients = clientsOf(paths);
  try {
    const greedy: Client[] = [];
    for (let index = 0; index < 3; index++)
      greedy.push(await clients.open({ tcp: `127.0.0.1:${greedyVm.port}`, name: `greedy-${index}` }));
    const segments = await Promise.all(
      greedy.map((client, index) => client.alloc(65536, { name: `kept-${index}` })),
    );
    await arbiter.kill9();
    arbiter.flags.extra = ["--vm-connections", "1"];
    await arbiter.restart();
    // Each resumes its session (its next request is answered on it) and keeps its segment.
    for (const [index, client] of greedy.entries()) {
      await client.mutex(`after-${index}`);
      expect(segments[index]!.bytes.byteLength).toBe(65536);
    }
    const report = JSON.parse((await runCli(["status", "--socket", paths.socket, "--json"])).stdout);
    expect(report.vms.find((vm: { vm: string }) => vm.vm === "greedy")).toMatchObject({
      clientCount: 3,
      connections: 3,
    });
    await expectRejection(
      clients.open({ tcp: `127.0.0.1:${greedyVm.port}`, name: "greedy-new" }),
      "QuotaExceeded",
      refusal("greedy", 3, 1),
    );
  } finally {
    await clients.closeAll();
    greedyVm.stop();
    await arbiter.stop();
    paths.cleanup();
  }
}, 60_000);

test("a host connection refused at hello that then tries to identify as a VM is not left counted as the host's", async () => {
  const paths = testPaths("iso-vm-conns-reidentify");
  const arbiter = await ArbiterProcess.start(paths, { lease: "30s", extra: ["--vm-connections", "1"] }).catch(
    cleanedUp(paths),
  );
  const clients = clientsOf(paths);
  const raws: Awaited<ReturnType<typeof rawClient>>[] = [];
  const raw = async () => {
    const client = await rawClient(paths.socket);
    raws.push(client);
    return client;
  };
  try {
    // A session of VM 'vm-a' kept over a restart: its token, resumed from the host, is refused but the
    // connection stays open (PermissionDenied does not end it), counted as the host's.
    const owner = await raw();
    owner.send("identify", 0, { vm: "vm-a" });
    const { sessionToken } = await owner.hello("owner");
    await arbiter.kill9();
    await arbiter.restart();
    const turncoat = await raw();
    turncoat.write(helloFrame("turncoat", sessionToken as string));
    expect(decodeError((await turncoat.answer(1)).body).code).toBe("PermissionDenied");
    // Still greeting, but it said hello: its identify is refused and it is closed (docs/protocol.md,
    // identify only before hello), and its close must free the host's count.
    turncoat.send("identify", 2, { vm: "vm-b" });
    expect(decodeError((await turncoat.answer(2)).body).code).toBe("ProtocolState");
    await turncoat.closed;
    // Its close frees the only connection the host has counted: a host process connects again.
    await eventually(
      async () =>
        clients.open({ ...clientConfig(paths), name: "host-after" }).then(
          () => true,
          () => false,
        ),
      10_000,
      "a host client once the turncoat closed (refused: VM 'host' already has 1 connection open)",
    );
  } finally {
    for (const client of raws) client.socket.end();
    await clients.closeAll();
    await arbiter.stop();
    paths.cleanup();
  }
}, 60_000);

test("a connection whose hello was refused may not identify or hand over after it (only before hello)", async () => {
  const paths = testPaths("iso-vm-conns-late-identify");
  const arbiter = await ArbiterProcess.start(paths, { extra: ["--vm-connections", "1"] }).catch(
    cleanedUp(paths),
  );
  const clients = clientsOf(paths);
  const raws: Awaited<ReturnType<typeof rawClient>>[] = [];
  try {
    await clients.open({ ...clientConfig(paths), name: "host-1" });
    for (const [op, fields] of [
      ["identify", { vm: "vm-b" }],
      ["handover", { nonce: "unclaimed" }],
    ] as const) {
      const late = await rawClient(paths.socket);
      raws.push(late);
      // Refused (the host's one connection is taken), the connection stays open, greeting.
      late.write(helloFrame(`late-${op}`));
      expect(decodeError((await late.answer(1)).body).code).toBe("QuotaExceeded");
      late.send(op, 2, fields);
      const error = decodeError((await late.answer(2)).body);
      expect(error.code).toBe("ProtocolState");
      expect(error.message).toMatch(/already said hello/);
      await late.closed;
    }
  } finally {
    for (const client of raws) client.socket.end();
    await clients.closeAll();
    await arbiter.stop();
    paths.cleanup();
  }
}, 60_000);
