/**
 * Ordered frame output over a Bun socket. `socket.write` may take only part of a buffer when the kernel's
 * send buffer is full; the rest waits here until the socket's drain event. A peer that stops reading
 * while we keep producing is cut off at `limitBytes` instead of growing memory without bound.
 */
import { failure } from "../errors.ts";

export interface WritableSocket {
  write(data: Uint8Array): number;
}

export class Outbox {
  private readonly queue: Uint8Array[] = [];
  private queuedBytes = 0;
  /** A write failed as the socket is closed (EPIPE: the peer closed it): nothing more can be sent. */
  peerGone = false;

  constructor(
    private readonly socket: WritableSocket,
    private readonly limitBytes = 64 << 20,
  ) {}

  send(frame: Uint8Array): void {
    // Frames already wait: writing them first finds a peer gone meanwhile (it shut down reading with our
    // replies unread), which queuing behind them never did, and a reply queued for it counted as delivered.
    if (this.queue.length > 0) this.flush();
    if (this.peerGone) throw closed();
    if (this.queue.length > 0) {
      this.enqueue(frame);
      return;
    }
    const written = this.socket.write(frame);
    if (written < 0) {
      this.peerGone = true;
      throw closed();
    }
    if (written < frame.byteLength) this.enqueue(frame.subarray(written));
  }

  /** Writes what the socket will take now; call from the socket's drain handler. */
  flush(): void {
    while (this.queue.length > 0) {
      const head = this.queue[0]!;
      const written = this.socket.write(head);
      if (written < 0) this.peerGone = true;
      if (written <= 0) return;
      this.queuedBytes -= written;
      if (written < head.byteLength) {
        this.queue[0] = head.subarray(written);
        return;
      }
      this.queue.shift();
    }
  }

  get idle(): boolean {
    return this.queue.length === 0;
  }

  /** Frames the socket has not taken yet, whole or in part. */
  get queuedFrames(): number {
    return this.queue.length;
  }

  private enqueue(bytes: Uint8Array): void {
    if (this.queuedBytes + bytes.byteLength > this.limitBytes)
      throw failure(
        "ConnectionLost",
        "queue a frame",
        `the peer has not read ${this.queuedBytes} bytes already sent`,
      );
    // A copy: callers may reuse their buffer once `send` returns (encodeFrameTransient does). Not
    // `slice`, which on a Buffer is a view.
    this.queue.push(new Uint8Array(bytes));
    this.queuedBytes += bytes.byteLength;
  }
}

function closed() {
  return failure("ConnectionLost", "send a frame", "the socket is closed");
}
