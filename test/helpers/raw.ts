/** A raw socket to the arbiter: send arbitrary bytes, collect what comes back until it closes. */
import { type Frame, FrameDecoder } from "../../src/protocol/codec.ts";

export interface RawExchange {
  frames: Frame[];
  closed: boolean;
}

export async function exchangeRaw(
  socketPath: string,
  chunks: Uint8Array[],
  timeoutMs = 3000,
): Promise<RawExchange> {
  const decoder = new FrameDecoder();
  const frames: Frame[] = [];
  let closed = false;
  let done: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    done = resolve;
  });
  const socket = await Bun.connect({
    unix: socketPath,
    socket: {
      data(_socket, bytes) {
        decoder.push(bytes);
        for (let frame = decoder.next(); frame; frame = decoder.next()) frames.push(frame);
      },
      close() {
        closed = true;
        done();
      },
    },
  });
  for (const chunk of chunks) socket.write(chunk);
  const timer = setTimeout(done, timeoutMs);
  await finished;
  clearTimeout(timer);
  if (!closed) socket.end();
  return { frames, closed };
}
