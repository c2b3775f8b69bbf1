/**
 * src/guest/transport.ts against a scripted peer (mutation round 20): a listening socket in this process
 * that records the frames it is sent and answers what the test tells it to, so the order and ids of
 * frames are seen exactly. A one-way request is not sent while the link waits for its hello; request ids
 * wrap past 2^32 - 1 to 1, skipping ids still awaited; an error answer that ends the session ends it,
 * and a full queue's refusal (id 0) during a hello ends only the hello; answers out of order keep the
 * newest proof of life; an unreadable frame after a good one is the arbiter's bad frame, not "no
 * arbiter"; the final close sends what the turn batched (TCP); a replaced link's late close does not
 * drop its successor.
 */
import { afterAll, afterEach, expect, test } from "bun:test";
import { join } from "node:path";
import type { Socket, TCPSocketListener, UnixSocketListener } from "bun";
import { failure } from "../src/errors.ts";
import { Transport } from "../src/guest/transport.ts";
import { encodeErrorFrame, encodeFrame, type Frame, FrameDecoder } from "../src/protocol/codec.ts";
import { FrameKind, messages } from "../src/protocol/messages.ts";
import { testPaths } from "./helpers/paths.ts";
import { eventually } from "./helpers/processes.ts";

const paths = testPaths("transport-scripted-peer");
afterAll(() => paths.cleanup());
/** A liveness bound for a few local round trips, generous for a busy 2-core machine. */
const BOUND_MS = 20_000;

/** The peer: every connection's frames, in order, and whether it closed. */
class Peer {
  readonly connections: { socket: Socket<undefined>; frames: Frame[]; closed: boolean }[] = [];
  private readonly listener: UnixSocketListener<undefined> | TCPSocketListener<undefined>;

  constructor(where: { unix: string } | { port: number }) {
    const decoders = new Map<Socket<undefined>, FrameDecoder>();
    const socket = {
      open: (socket: Socket<undefined>) => {
        decoders.set(socket, new FrameDecoder());
        this.connections.push({ socket, frames: [], closed: false });
      },
      data: (socket: Socket<undefined>, bytes: Uint8Array) => {
        const decoder = decoders.get(socket)!;
        decoder.push(bytes);
        const connection = this.connections.find((each) => each.socket === socket)!;
        for (let frame = decoder.next(); frame; frame = decoder.next()) connection.frames.push(frame);
      },
      close: (socket: Socket<undefined>) => {
        const connection = this.connections.find((each) => each.socket === socket);
        if (connection) connection.closed = true;
      },
    };
    this.listener =
      "unix" in where
        ? Bun.listen({ unix: where.unix, socket })
        : Bun.listen({ hostname: "127.0.0.1", port: where.port, socket });
  }

  /** Waits until connection `index` has received `count` frames; returns them. */
  async frames(count: number, index = 0): Promise<Frame[]> {
    await eventually(
      async () => (this.connections[index]?.frames.length ?? 0) >= count,
      BOUND_MS,
      `${count} frames`,
    );
    return this.connections[index]!.frames;
  }

  reply(frame: Frame, name: keyof typeof messages, fields: Record<string, number | string>, index = 0): void {
    this.connections[index]!.socket.write(
      encodeFrame(FrameKind.reply, frame.op, frame.requestId, messages[name].reply, fields),
    );
  }

  send(bytes: Uint8Array, index = 0): void {
    this.connections[index]!.socket.write(bytes);
  }

  /** The TCP port it listens on (the system chose it: no test run collides with another's). */
  get port(): number {
    return (this.listener as TCPSocketListener<undefined>).port;
  }

  stop(): void {
    this.listener.stop(true);
  }
}

let peer: Peer | undefined;
let transport: Transport | undefined;
afterEach(() => {
  transport?.close();
  peer?.stop();
  [transport, peer] = [undefined, undefined];
});

let sockets = 0;
/** A peer on a new Unix socket, and a transport with its link open (held, as before a hello). */
async function linked(): Promise<{ peer: Peer; transport: Transport }> {
  const unix = join(paths.dir, `peer-${++sockets}.sock`);
  peer = new Peer({ unix });
  transport = new Transport({ unix });
  await transport.open();
  return { peer, transport };
}

const wake = { slot: 1, word: 0, count: 1, reply: 0 };

test("a one-way request is not sent while the link waits for its hello; once released it is", async () => {
  const { peer, transport } = await linked();
  expect(transport.notify("wake", wake)).toBe(false);
  transport.release();
  expect(transport.notify("wake", wake)).toBe(true);
  transport.request("heartbeat", {}).catch(() => undefined);
  const frames = await peer.frames(2);
  expect(frames.map((frame) => frame.op)).toEqual([messages.wake.op, messages.heartbeat.op]);
});

test("request ids wrap from 2^32 - 1 to 1, skipping ids still awaited", async () => {
  const { peer, transport } = await linked();
  transport.release();
  const counter = transport as unknown as { nextRequestId: number };
  counter.nextRequestId = 1;
  const awaited = [transport.request("heartbeat", {}), transport.request("heartbeat", {})]; // ids 1 and 2
  counter.nextRequestId = 0xffffffff;
  for (const answer of [...awaited, transport.request("heartbeat", {}), transport.request("heartbeat", {})])
    answer.catch(() => undefined);
  const frames = await peer.frames(4);
  expect(frames.map((frame) => frame.requestId)).toEqual([1, 2, 0xffffffff, 3]);
});

test("an error answer that ends the session marks the transport lost, failing what else awaits", async () => {
  const { peer, transport } = await linked();
  transport.release();
  const first = transport.request("heartbeat", {}).catch((error: unknown) => error);
  const second = transport.request("heartbeat", {}).catch((error: unknown) => error);
  const [frame] = await peer.frames(2);
  const expired = failure("LeaseExpired", "renew the lease", "it expired");
  peer.send(encodeErrorFrame(frame!.op, frame!.requestId, expired));
  expect(await first).toMatchObject({ code: "LeaseExpired" });
  expect(transport.lost?.code).toBe("LeaseExpired");
  expect(await second).toMatchObject({ code: "LeaseExpired" });
});

test("a full queue's refusal (request id 0) ends the hello it answers, not the session", async () => {
  const { peer, transport } = await linked();
  const hello = transport.handshake("heartbeat", {}, BOUND_MS);
  await peer.frames(1);
  const full = failure("ArbiterUnreachable", "reach the arbiter", "its accept queue is full");
  peer.send(encodeErrorFrame(0, 0, full));
  await expect(hello).rejects.toThrow(/accept queue is full/);
  expect(transport.lost).toBeUndefined();
});

test("answers out of order: the newest request answered is what proves the arbiter heard us", async () => {
  const { peer, transport } = await linked();
  transport.release();
  const older = transport.request("heartbeat", {});
  await peer.frames(1);
  await Bun.sleep(5); // the two requests' times differ
  const newer = transport.request("heartbeat", {});
  const [first, second] = await peer.frames(2);
  peer.reply(second!, "heartbeat", { leaseMs: 1000 });
  await newer;
  const proved = transport.lastAnsweredSentMs;
  peer.reply(first!, "heartbeat", { leaseMs: 1000 });
  await older;
  expect(transport.lastAnsweredSentMs).toBe(proved);
});

test("an unreadable frame after a good one is the arbiter's bad frame, not a peer that is no arbiter", async () => {
  const { peer, transport } = await linked();
  transport.release();
  const answered = transport.request("heartbeat", {});
  const [frame] = await peer.frames(1);
  peer.reply(frame!, "heartbeat", { leaseMs: 1000 });
  await answered;
  const next = transport.request("heartbeat", {});
  await peer.frames(2);
  peer.send(new Uint8Array(12)); // a length field of 0
  await expect(next).rejects.toMatchObject({ code: "BadFrame" });
  expect(transport.lost?.message).toMatch(/its length field says 0 bytes/);
  expect(transport.lost?.message).not.toMatch(/not an ivsh arbiter/);
});

test("over TCP, the final close sends what this turn batched (a one-way goodbye) before the link ends", async () => {
  peer = new Peer({ port: 0 });
  transport = new Transport({ hostname: "127.0.0.1", port: peer.port });
  await transport.open();
  transport.release();
  expect(transport.notify("bye", {})).toBe(true); // batched until the turn's end
  transport.close();
  await eventually(async () => peer!.connections[0]?.closed === true, BOUND_MS, "the link's end");
  expect(peer.connections[0]!.frames.map((frame) => frame.op)).toEqual([messages.bye.op]);
});

test("the late close of a link already replaced does not drop the link that replaced it", async () => {
  const { peer, transport } = await linked();
  const replaced = (transport as unknown as { link: { socket: Socket<undefined> } }).link.socket;
  let disconnects = 0;
  transport.onDisconnect = () => disconnects++;
  await transport.open(); // the next link, as a resume opens it
  await eventually(async () => peer.connections.length === 2, BOUND_MS, "the second connection");
  replaced.end();
  await eventually(async () => peer.connections[0]!.closed, BOUND_MS, "the first link's end");
  // A round trip on the new link: the old one's close has been handled by the time it is answered.
  transport.release();
  const answered = transport.request("heartbeat", {});
  const [frame] = await peer.frames(1, 1);
  peer.reply(frame!, "heartbeat", { leaseMs: 1000 }, 1);
  await answered;
  expect(transport.connected).toBe(true);
  expect(disconnects).toBe(0);
});
