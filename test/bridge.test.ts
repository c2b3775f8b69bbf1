/** `ivsh bridge`: a guest's connection reaches the arbiter, and its VM name comes from the host side. */
import { afterAll, beforeAll, beforeEach, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { encodeFrame } from "../src/protocol/codec.ts";
import { FrameKind, messages } from "../src/protocol/messages.ts";
import { type FakeGuestfwd, fakeGuestfwd } from "./helpers/guestfwd.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, runCli } from "./helpers/processes.ts";

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
  const text = await runCli(["status", "--socket", paths.socket]);
  expect(text.stdout).toMatch(/web-vm: clients \d+; 1 blocks allocated/);
  expect(text.stdout).toMatch(/#\d+ in-guest pid \d+ vm web-vm/);
  await client.close();
});

test("a guest cannot claim another identity: its own identify is refused", async () => {
  const socket = await Bun.connect({ hostname: "127.0.0.1", port: forward.port, socket: { data() {} } });
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
  const reply = Buffer.concat(received).toString("latin1");
  expect(reply).toContain("already set (by its bridge)");
});
