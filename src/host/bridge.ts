/**
 * The bridge between one guest connection and the arbiter. QEMU's user-mode network runs
 * `ivsh bridge --vm NAME --socket PATH` for each TCP connection a guest opens to the forwarded address,
 * with that connection on stdin/stdout. The bridge first tells the arbiter which VM this is (an identify
 * frame the guest never sees, and cannot send itself: the arbiter accepts identify only as the first
 * frame), then relays bytes both ways until either side closes.
 */
import type { Socket } from "bun";
import { failure } from "../errors.ts";
import { decodeError, encodeFrame, FrameDecoder } from "../protocol/codec.ts";
import { FrameKind, messages } from "../protocol/messages.ts";
import { Outbox } from "../protocol/outbox.ts";

const IDENTIFY_REQUEST_ID = 0;

export interface BridgeStreams {
  input: ReadableStream<Uint8Array>;
  output: { write(bytes: Uint8Array): unknown; flush?(): unknown };
}

/** Relays until either side closes; resolves then, rejects if the arbiter refuses the identity. */
export async function runBridge(vm: string, socketPath: string, streams: BridgeStreams): Promise<void> {
  const identified = Promise.withResolvers<void>();
  const closed = Promise.withResolvers<void>();
  const decoder = new FrameDecoder();
  let relaying = false;
  let outbox: Outbox | undefined;
  const socket: Socket<undefined> = await Bun.connect({
    unix: socketPath,
    socket: {
      data(_socket, bytes) {
        if (relaying) return forward(streams, bytes);
        decoder.push(bytes);
        const frame = decoder.next();
        if (!frame) return;
        if (frame.kind === FrameKind.error) return identified.reject(decodeError(frame.body));
        relaying = true;
        identified.resolve();
        // Anything after the identify reply (nothing, normally) belongs to the guest.
        const rest = decoder.drain();
        if (rest.byteLength > 0) forward(streams, rest);
      },
      drain: () => outbox?.flush(),
      close: () => closed.resolve(),
      error: () => closed.resolve(),
    },
  }).catch((cause: unknown) => {
    throw failure(
      "ArbiterUnreachable",
      `bridge VM '${vm}' to ${socketPath}`,
      `the arbiter does not answer (${String(cause)})`,
    );
  });
  outbox = new Outbox(socket);
  outbox.send(
    encodeFrame(FrameKind.request, messages.identify.op, IDENTIFY_REQUEST_ID, messages.identify.request, {
      vm,
    }),
  );
  await Promise.race([identified.promise, closed.promise]);
  if (!relaying)
    throw failure("ArbiterUnreachable", `bridge VM '${vm}'`, "the arbiter closed the connection");
  const pumping = pumpInput(streams.input, outbox).finally(() => socket.end());
  await Promise.race([pumping, closed.promise]);
}

function forward(streams: BridgeStreams, bytes: Uint8Array): void {
  streams.output.write(bytes);
  streams.output.flush?.();
}

async function pumpInput(input: ReadableStream<Uint8Array>, outbox: Outbox): Promise<void> {
  for await (const chunk of input) outbox.send(chunk);
}
