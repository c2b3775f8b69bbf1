/**
 * The arbiter's hand-over socket: where a VM's bridge leaves the guest connection it was started with
 * (its descriptor, passed with SCM_RIGHTS) before it exits, so that no relay process stays on the data
 * path (docs/protocol.md, "Guest connections"). A Unix datagram socket at `SOCKET.handover`, mode 0660
 * like the arbiter's socket: whoever may connect there may hand over. The bridge sends the datagram first,
 * then a `handover` request naming its nonce on an ordinary connection; the arbiter drains what is queued
 * when that request arrives, so it never polls.
 */
import { chmodSync, existsSync, lstatSync, rmSync } from "node:fs";
import { failure } from "../errors.ts";
import { bindDatagramSocket, receiveWithFd } from "../ffi/fd-passing.ts";
import { closeFd } from "../ffi/index.ts";
import { decodeFields, FrameDecoder } from "../protocol/codec.ts";
import { handoverDatagram, isVmName, messages } from "../protocol/messages.ts";

/** A datagram whose request never came (its bridge died in between) is dropped after this. */
const UNCLAIMED_TTL_MS = 30_000;

export function handoverPath(socketPath: string): string {
  return `${socketPath}.handover`;
}

export interface HandedOver {
  readonly vm: string;
  readonly fd: number;
}

interface Waiting extends HandedOver {
  readonly atMs: number;
}

export class HandoverInbox {
  private readonly waiting = new Map<string, Waiting>();

  private constructor(
    private readonly path: string,
    private readonly socketFd: number,
  ) {}

  /** Binds the socket beside the arbiter's (which the caller owns by now: a leftover file is stale). */
  static open(socketPath: string): HandoverInbox {
    const path = handoverPath(socketPath);
    if (existsSync(path)) {
      if (!lstatSync(path).isSocket())
        throw failure("InvalidArgument", `listen on ${path}`, "a file that is not a socket is in the way");
      rmSync(path);
    }
    const inbox = new HandoverInbox(path, bindDatagramSocket(path));
    chmodSync(path, 0o660);
    return inbox;
  }

  /** The connection handed over under `nonce`; its descriptor is the caller's from now on. */
  take(nonce: string): HandedOver | undefined {
    this.drain();
    const found = this.waiting.get(nonce);
    this.waiting.delete(nonce);
    return found;
  }

  close(): void {
    for (const { fd } of this.waiting.values()) closeFd(fd);
    this.waiting.clear();
    closeFd(this.socketFd);
    rmSync(this.path, { force: true });
  }

  /** Reads every queued datagram; one that is malformed, names no valid VM or carries no descriptor is dropped. */
  private drain(): void {
    const now = performance.now();
    for (let passed = receiveWithFd(this.socketFd, this.path); passed; ) {
      const fields = passed.fd === undefined ? undefined : decodeDatagram(passed.payload);
      if (fields && passed.fd !== undefined && !this.waiting.has(fields.nonce))
        this.waiting.set(fields.nonce, { vm: fields.vm, fd: passed.fd, atMs: now });
      else if (passed.fd !== undefined) closeFd(passed.fd);
      passed = receiveWithFd(this.socketFd, this.path);
    }
    for (const [nonce, waiting] of this.waiting)
      if (now - waiting.atMs > UNCLAIMED_TTL_MS) {
        closeFd(waiting.fd);
        this.waiting.delete(nonce);
      }
  }
}

function decodeDatagram(payload: Uint8Array): { vm: string; nonce: string } | undefined {
  try {
    const decoder = new FrameDecoder();
    decoder.push(payload);
    const frame = decoder.next();
    if (!frame || frame.op !== messages.handover.op || decoder.drain().byteLength > 0) return undefined;
    const fields = decodeFields(handoverDatagram, frame.body, "a hand-over datagram");
    return isVmName(fields.vm) ? fields : undefined;
  } catch {
    return undefined;
  }
}
