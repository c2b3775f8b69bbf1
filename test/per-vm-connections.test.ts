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
import { type FakeGuestfwd, fakeGuestfwd, socketGuestfwd } from "./helpers/guestfwd.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, eventually, runCli } from "./helpers/processes.ts";
import { helloFrame, type RawClient, rawClient } from "./helpers/raw.ts";

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

/** A case's own arbiter, and what it connects to it: all closed at its end, whatever happened. */
interface Setup {
  paths: TestPaths;
  arbiter: ArbiterProcess;
  /** A client of the region (over `tcp`: through a VM's bridge; else a host process). */
  open(options: Partial<ConnectOptions> & { name: string }): Promise<Client>;
  /** QEMU's guestfwd for VM `vm`: its bridges hand their connection over, or (`relay`) relay it. */
  bridge(vm: string, how?: "handover" | "relay"): FakeGuestfwd;
  /** A connection that says only what the case writes. */
  raw(): Promise<RawClient>;
}

/**
 * `check` against an arbiter of its own (`ivsh host --vm-connections LIMIT`, `lease` if given); then its
 * raw connections, clients and bridges are closed, the arbiter stopped and its places removed.
 */
async function withArbiter(
  label: string,
  flags: { vmConnections: number; lease?: string },
  check: (setup: Setup) => Promise<void>,
): Promise<void> {
  const paths = testPaths(label);
  const arbiter = await ArbiterProcess.start(paths, {
    lease: flags.lease,
    extra: ["--vm-connections", String(flags.vmConnections)],
  }).catch(cleanedUp(paths));
  const clients: Client[] = [];
  const bridges: FakeGuestfwd[] = [];
  const raws: RawClient[] = [];
  const setup: Setup = {
    paths,
    arbiter,
    async open(options) {
      const client = await connect({ region: paths.region, connectTimeoutMs: 5000, ...options });
      clients.push(client);
      return client;
    },
    bridge(vm, how = "handover") {
      const forward = (how === "relay" ? fakeGuestfwd : socketGuestfwd)(vm, paths.socket);
      bridges.push(forward);
      return forward;
    },
    async raw() {
      const client = await rawClient(paths.socket);
      raws.push(client);
      return client;
    },
  };
  try {
    await check(setup);
  } finally {
    for (const client of raws) client.socket.end();
    for (const client of clients) await client.close().catch(() => undefined);
    for (const forward of bridges) forward.stop();
    await arbiter.stop();
    paths.cleanup();
  }
}

test("a VM at its --vm-connections limit is refused another, naming it; other VMs and the host still connect", async () => {
  await withArbiter("iso-vm-conns", { vmConnections: 3 }, async ({ paths, open, bridge }) => {
    const greedyVm = bridge("greedy");
    const greedyRelayed = bridge("greedy", "relay");
    // Relayed: its count comes from the identify, as a handed-over one's from the hand-over.
    const politeVm = bridge("polite", "relay");
    const greedy: Client[] = [];
    for (let index = 0; index < 3; index++)
      greedy.push(await open({ tcp: `127.0.0.1:${greedyVm.port}`, name: `greedy-${index}` }));
    await expectRejection(
      open({ tcp: `127.0.0.1:${greedyVm.port}`, name: "greedy-handed-over" }),
      "QuotaExceeded",
      refusal("greedy", 3, 3),
    );
    await expectRejection(
      open({ tcp: `127.0.0.1:${greedyRelayed.port}`, name: "greedy-relayed" }),
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
    await open({ tcp: `127.0.0.1:${politeVm.port}`, name: "polite" });
    await open({ ...clientConfig(paths), name: "host-client" });
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
        open({ tcp: `127.0.0.1:${greedyVm.port}`, name: "greedy-again" }).then(
          () => true,
          () => false,
        ),
      10_000,
      "a new connection of VM greedy once one closed",
    );
  });
}, 60_000);

test("the host's processes count together as VM 'host'; a status query and the VMs' bridges are not counted", async () => {
  await withArbiter("iso-vm-conns-host", { vmConnections: 2 }, async ({ paths, open, bridge }) => {
    const guestVm = bridge("guest");
    await open({ ...clientConfig(paths), name: "host-1" });
    await open({ ...clientConfig(paths), name: "host-2" });
    await expectRejection(
      open({ ...clientConfig(paths), name: "host-3" }),
      "QuotaExceeded",
      /VM 'host' already has 2 connections open, its --vm-connections limit of 2 \(the host's processes with a session count together\)/,
    );
    const status = await runCli(["status", "--socket", paths.socket]);
    expect(status.stdout).toMatch(/^ {2}host: 2 clients .*; 2 connections$/m);
    // The bridge's own connection (a host process, it says no hello) does not count against the host.
    await open({ tcp: `127.0.0.1:${guestVm.port}`, name: "in-guest" });
  });
}, 60_000);

test("a VM over a lowered --vm-connections after a restart keeps its sessions; only new connections are refused", async () => {
  const flags = { vmConnections: 3, lease: "10s" };
  await withArbiter("iso-vm-conns-restart", flags, async ({ paths, arbiter, open, bridge }) => {
    const greedyVm = bridge("greedy");
    const greedy: Client[] = [];
    for (let index = 0; index < 3; index++)
      greedy.push(await open({ tcp: `127.0.0.1:${greedyVm.port}`, name: `greedy-${index}` }));
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
      open({ tcp: `127.0.0.1:${greedyVm.port}`, name: "greedy-new" }),
      "QuotaExceeded",
      refusal("greedy", 3, 1),
    );
  });
}, 60_000);

test("a host connection refused at hello that then tries to identify as a VM is not left counted as the host's", async () => {
  const flags = { vmConnections: 1, lease: "30s" };
  await withArbiter("iso-vm-conns-reidentify", flags, async ({ paths, arbiter, open, raw }) => {
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
        open({ ...clientConfig(paths), name: "host-after" }).then(
          () => true,
          () => false,
        ),
      10_000,
      "a host client once the turncoat closed (refused: VM 'host' already has 1 connection open)",
    );
  });
}, 60_000);

test("a connection whose hello was refused may not identify or hand over after it (only before hello)", async () => {
  await withArbiter("iso-vm-conns-late-identify", { vmConnections: 1 }, async ({ paths, open, raw }) => {
    await open({ ...clientConfig(paths), name: "host-1" });
    for (const [op, fields] of [
      ["identify", { vm: "vm-b" }],
      ["handover", { nonce: "unclaimed" }],
    ] as const) {
      const late = await raw();
      // Refused (the host's one connection is taken), the connection stays open, greeting.
      late.write(helloFrame(`late-${op}`));
      expect(decodeError((await late.answer(1)).body).code).toBe("QuotaExceeded");
      late.send(op, 2, fields);
      const error = decodeError((await late.answer(2)).body);
      expect(error.code).toBe("ProtocolState");
      expect(error.message).toMatch(/already said hello/);
      await late.closed;
    }
  });
}, 60_000);
