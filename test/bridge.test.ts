/** `ivsh bridge`: a guest's connection reaches the arbiter, and its VM name comes from the host side. */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { streamSocketPair } from "../src/ffi/fd-passing.ts";
import { closeFd } from "../src/ffi/index.ts";
import { connect } from "../src/guest/index.ts";
import { encodeFrame } from "../src/protocol/codec.ts";
import { FrameKind, messages } from "../src/protocol/messages.ts";
import { type FakeGuestfwd, fakeGuestfwd, socketGuestfwd } from "./helpers/guestfwd.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, runCli } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { testUnless, testWithTool, toolMissing } from "./helpers/tools.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let forward: FakeGuestfwd;

beforeAll(async () => {
  paths = testPaths("bridge");
  arbiter = await ArbiterProcess.start(paths);
  forward = fakeGuestfwd("web-vm", paths.socket);
});
beforeEach(() => arbiter.revive());
afterAll(async () => {
  forward?.stop();
  await arbiter?.stop();
  paths?.cleanup();
});

test("a client connecting over TCP through the bridge is known by the bridge's VM name", async () => {
  const client = await connect({ tcp: `127.0.0.1:${forward.port}`, region: paths.region, name: "in-guest" });
  expect(client.vm).toBe("web-vm");
  const segment = await client.alloc(65536, { name: "from-guest" });
  segment.bytes[0] = 5;
  // The guest's own status counts its VM's clients and blocks, not the host's.
  expect((await client.status()).requester).toMatchObject({
    vm: "web-vm",
    vmClients: 1,
    vmBlocksAllocated: 1,
  });
  const text = await runCli(["status", "--socket", paths.socket]);
  expect(text.stdout).toMatch(/web-vm: 1 client \(#\d+\); 1 block allocated/);
  expect(text.stdout).toMatch(/#\d+ in-guest pid \d+ vm web-vm/);
  // Only the guest's VM has clients: the host's entry exists only for the status query's own session,
  // and neither the list nor the count may show it, even when the list is cut to nothing.
  expect(text.stdout).toMatch(/^VMs \(1\):\n {2}web-vm:/m);
  const totalsOnly = JSON.parse(
    (await runCli(["status", "--socket", paths.socket, "--limit", "0", "--json"])).stdout,
  );
  expect(totalsOnly.totals).toMatchObject({ vms: 1, clients: 1, connected: 1 });
  await client.close();
});

/** What comes back, as text, when a guest sends its own identify through the guestfwd at `port`. */
async function answerToGuestIdentify(port: number): Promise<string> {
  const socket = await Bun.connect({ hostname: "127.0.0.1", port, socket: { data() {} } });
  const received: Uint8Array[] = [];
  const closed = Promise.withResolvers<void>();
  socket.reload({
    socket: {
      data: (_socket, bytes) => void received.push(bytes),
      close: () => closed.resolve(),
    },
  });
  socket.write(
    encodeFrame(FrameKind.request, messages.identify.op, 1, messages.identify.request, { vm: "host" }),
  );
  await Promise.race([closed.promise, Bun.sleep(3000)]);
  return Buffer.concat(received).toString("latin1");
}

test("a guest cannot claim another identity: its own identify is refused", async () => {
  expect(await answerToGuestIdentify(forward.port)).toContain("already set (by its bridge)");
});

describe("hand-over (the bridge's stdin and stdout are one socket, as under QEMU)", () => {
  let handing: FakeGuestfwd;
  beforeAll(() => {
    handing = socketGuestfwd("handed-vm", paths.socket);
  });
  afterAll(() => handing?.stop());

  test("the bridge hands the connection to the arbiter and exits; the client works under the VM's name", async () => {
    const client = await connect({ tcp: `127.0.0.1:${handing.port}`, region: paths.region, name: "handed" });
    expect(client.vm).toBe("handed-vm");
    // The bridge is gone while the connection lives on: no relay process on the data path.
    const bridge = handing.bridges.at(-1)!;
    expect(await bridge.exited).toBe(0);
    const segment = await client.alloc(65536, { name: "after-handover" });
    segment.bytes[0] = 9;
    const text = await runCli(["status", "--socket", paths.socket]);
    expect(text.stdout).toMatch(/#\d+ handed pid \d+ vm handed-vm/);
    await client.close();
  });

  test("many guest connections at once are all handed over, each bridge exiting", async () => {
    const clients = await Promise.all(
      Array.from({ length: 12 }, (_, index) =>
        connect({ tcp: `127.0.0.1:${handing.port}`, region: paths.region, name: `many-${index}` }),
      ),
    );
    expect(clients.every((client) => client.vm === "handed-vm")).toBe(true);
    const codes = await Promise.all(handing.bridges.slice(-12).map((bridge) => bridge.exited));
    expect(codes.every((code) => code === 0)).toBe(true);
    await Promise.all(clients.map((client) => client.close()));
  });

  test("a guest's own identify after the hand-over is refused: the VM name stays the host's", async () => {
    expect(await answerToGuestIdentify(handing.port)).toContain("already set (by its bridge)");
  });
});

/**
 * QEMU often runs as its own user (libvirt-qemu): one outside the socket's group must be told that, not
 * sent to start an arbiter that runs. Needs root, to run the bridge as `nobody`.
 */
const notAsRoot =
  process.getuid?.() !== 0
    ? "it must run as root, to start the bridge as the user nobody (`.ci/run` runs as root)"
    : toolMissing("setpriv");
testUnless(
  notAsRoot,
  "a bridge that may not open the arbiter's socket says so, naming its user and the socket's mode and group",
  async () => {
    // The bridge's stdin/stdout one socket, as under QEMU: it tries the hand-over first.
    const [mine, theirs] = streamSocketPair();
    const bridge = tracked(
      Bun.spawn(
        [
          "setpriv",
          "--reuid=65534",
          "--regid=65534",
          "--clear-groups",
          process.execPath,
          CLI,
          "bridge",
        ].concat(["--vm", "barred-vm", "--socket", paths.socket]),
        { stdin: theirs, stdout: theirs, stderr: "pipe" },
      ),
    );
    closeFd(theirs);
    try {
      expect(await bridge.exited).toBe(1);
      const stderr = await new Response(bridge.stderr).text();
      expect(stderr).toMatch(/the host's bridge, running as \S+ \(uid 65534\), QEMU's user, may not open /);
      expect(stderr).toContain(paths.socket);
      expect(stderr).toMatch(/join that group|may not enter/);
      expect(stderr).not.toContain("ivsh host --socket");
      expect(stderr).not.toContain("relaying");
    } finally {
      closeFd(mine);
    }
  },
  60_000,
);

testWithTool(
  "script",
  "bridge run by hand from a terminal: a usage error saying QEMU starts it, not a silent wait",
  async () => {
    // util-linux script(1) gives the bridge a terminal on stdin, as a shell would.
    const command = [process.execPath, CLI, "bridge", "--vm", "by-hand", "--socket", paths.socket].join(" ");
    const run = tracked(
      Bun.spawn(["script", "-qec", command, "/dev/null"], {
        stdin: "ignore",
        stdout: "pipe",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1" },
      }),
    );
    expect(await run.exited).toBe(2);
    const output = await new Response(run.stdout).text();
    expect(output).toContain("stdin is a terminal");
    expect(output).toContain("QEMU starts it");
    expect(output).toContain("Run 'ivsh bridge --help'");
  },
);

test("a guestfwd whose command dies at once: the guest gives up naming the bridge command, not 'closed during hello'", async () => {
  // QEMU accepts the guest's connection itself and runs the command; one that cannot run closes it.
  let accepted = 0;
  const dying = Bun.listen({
    hostname: "127.0.0.1",
    port: 0,
    socket: {
      open(socket) {
        accepted++;
        socket.end();
      },
      data() {},
    },
  });
  try {
    const file = `${paths.dir}/dying-bridge.txt`;
    await Bun.write(file, "hello\n");
    const args = ["guest", "send", file, "--connect", `127.0.0.1:${dying.port}`, "--region", paths.region];
    const result = await runCli([...args, "--timeout", "2s"]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(
      `Failed to greet the arbiter at 127.0.0.1:${dying.port} since every connection closed`,
    );
    expect(result.stderr).toContain(
      "the VM's guestfwd (`ivsh bridge --vm NAME --socket SOCKET`) fails to run",
    );
    expect(accepted).toBeGreaterThan(1);
  } finally {
    dying.stop(true);
  }
}, 60_000);
