/**
 * The arbiter's hand-over socket: where a VM's bridge leaves the guest connection it was started with
 * (its descriptor, passed with SCM_RIGHTS) before it exits, so that no relay process stays on the data
 * path (docs/protocol.md, "Guest connections"). A Unix datagram socket at `SOCKET.handover`, mode 0660
 * like the arbiter's socket: whoever may connect there may hand over. The bridge sends the datagram first,
 * then a `handover` request naming its nonce on an ordinary connection; the arbiter drains what is queued
 * when that request arrives.
 *
 * A bridge can die between the two (killed, its VM stopped): nobody will claim its datagram, and the
 * descriptor in it is the guest's connection, which stays open while anyone holds it. So the inbox also
 * drains on a timer and closes what has waited longer than the TTL: the guest sees its connection close
 * and the arbiter keeps no descriptor, even if no other hand-over ever comes to drain the socket.
 *
 * IVSH_HANDOVER_TTL_MS in the arbiter's environment sets that TTL (default 30 s). It exists for tests,
 * which watch an unclaimed descriptor get closed without waiting half a minute; an operator has no reason
 * to change it, as a bridge that lives sends its request within milliseconds.
 */
import type { FdSocketOptions, Socket } from "bun";
import { failure } from "../errors.ts";
import { bindDatagramSocket, receiveWithFd } from "../ffi/fd-passing.ts";
import { removeMadeFile } from "../ffi/file-flags.ts";
import { closeFd } from "../ffi/index.ts";
import { log } from "../log.ts";
import { decodeFields, FrameDecoder } from "../protocol/codec.ts";
import { handoverDatagram, isVmName, messages } from "../protocol/messages.ts";
import { bindPrivately, publishSocket, removeAtStop, stillPublished } from "./socket-file.ts";

/** bun-types 1.4.5 declares FdSocketOptions but no Bun.connect overload taking it; the runtime has one. */
export const connectFd = Bun.connect as unknown as <Data>(
  options: FdSocketOptions<Data>,
) => Promise<Socket<Data>>;

/** A datagram whose request never came (its bridge died in between) is dropped after this. */
const DEFAULT_HANDOVER_TTL_MS = 30_000;
const HANDOVER_TTL_VARIABLE = "IVSH_HANDOVER_TTL_MS";
/** VMs whose relaying HandoverInbox.noteRelayed keeps in mind, each way: far more than a host runs. */
const MAX_NOTED_VMS = 4096;

/** Added to --socket for the hand-over socket beside it. */
export const HANDOVER_SUFFIX = ".handover";

export function handoverPath(socketPath: string): string {
  return `${socketPath}${HANDOVER_SUFFIX}`;
}

/**
 * The TTL that `environment` asks for; throws naming the variable if its value is not one. startArbiter
 * reads it before it touches anything: read first where the arbiter listens, its refusal came after the
 * region was re-headed and the --state rewritten.
 */
export function handoverTtlMs(environment: Record<string, string | undefined> = process.env): number {
  const value = environment[HANDOVER_TTL_VARIABLE];
  // Empty is unset, as for IVSH_COMPACT_AFTER_RECORDS (a unit file's `Environment=NAME=`).
  if (value === undefined || value === "") return DEFAULT_HANDOVER_TTL_MS;
  const ms = /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!Number.isSafeInteger(ms) || ms < 1)
    throw failure(
      "InvalidArgument",
      `use ${HANDOVER_TTL_VARIABLE}=${JSON.stringify(value)}`,
      `it must be a whole number of milliseconds, at least 1 (unset, it is ${DEFAULT_HANDOVER_TTL_MS})`,
    );
  return ms;
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
  private readonly expiry: ReturnType<typeof setInterval>;
  /** A bridge handed a connection over since the start. */
  private handedOver = false;
  /** VMs whose bridges relayed a connection while this socket was in place (`noteRelayed`). */
  private readonly relayingVms = new Set<string>();
  /** VMs not seen relaying beside this socket that relayed while it was gone: maybe for that. */
  private readonly relayedWithout = new Set<string>();

  private constructor(
    private readonly path: string,
    private readonly socketFd: number,
    private readonly ttlMs: number,
    /** The file this inbox bound, which close() removes only while it is still that one. */
    private readonly identity: string | undefined,
    private readonly hasRoom: () => boolean,
  ) {
    // Checked as often as the arbiter sweeps for a one-second lease at most: an unclaimed descriptor is
    // closed within TTL + twice this of its datagram's arrival. A recvmsg that finds nothing is all an
    // idle tick costs; unref'd, so the timer alone keeps no process alive.
    const periodMs = Math.max(20, Math.min(1000, ttlMs / 4));
    this.expiry = setInterval(() => this.drainOnTimer(), periodMs);
    this.expiry.unref();
  }

  /**
   * Binds the socket beside the arbiter's (privately, then linked into place: ./socket-file.ts). A file
   * there is not replaced: the start cleared a stale one before it made anything, so one there now is
   * another arbiter's, started on this --socket meanwhile.
   */
  static open(socketPath: string, hasRoom: () => boolean = () => true): HandoverInbox {
    const ttlMs = handoverTtlMs();
    const path = handoverPath(socketPath);
    const [fd, privatePath] = bindPrivately(socketPath, bindDatagramSocket);
    try {
      return new HandoverInbox(path, fd, ttlMs, publishSocket(privatePath, path), hasRoom);
    } catch (error) {
      closeFd(fd);
      // Its directory made append-only meanwhile: the refusal is what is told, the name left beside it.
      throw removeMadeFile(privatePath, error);
    }
  }

  /** Whether the file at the hand-over socket's path is still the one bound (not removed, nor replaced). */
  published(): boolean {
    return this.identity !== undefined && stillPublished(this.path, this.identity);
  }

  /** Descriptors kept for connections handed over and not claimed yet. */
  get waitingCount(): number {
    return this.waiting.size;
  }

  /** The connection handed over under `nonce`; its descriptor is the caller's from now on. */
  take(nonce: string): HandedOver | undefined {
    this.drain();
    const found = this.waiting.get(nonce);
    this.waiting.delete(nonce);
    if (found) this.handedOver = true;
    return found;
  }

  /**
   * A bridge relays `vm`'s guest connection (its identify): by choice (IVSH_BRIDGE=relay, which the arbiter
   * cannot see) or for an obstacle of its own if this socket is in place; else perhaps for its absence.
   * Per VM, as the choice is (QEMU's environment): taken for the whole setup, a VM that hands over, come
   * only after the removal (the relaying one first, after a restart), relayed unnamed for good. One lstat
   * per relayed connection of a VM not seen relaying beside it yet, nothing per hello.
   */
  noteRelayed(vm: string): void {
    if (this.relayingVms.has(vm)) return;
    // Bounded: any local process may identify, under any name.
    if (!this.published()) {
      if (this.relayedWithout.size < MAX_NOTED_VMS) this.relayedWithout.add(vm);
    } else {
      // Even at the cap: else, seen relaying beside it, it stayed counted for good as one that hands over.
      this.relayedWithout.delete(vm);
      if (this.relayingVms.size < MAX_NOTED_VMS) this.relayingVms.add(vm);
    }
  }

  /**
   * What bridges did since the start: "relays" where they relayed beside this socket, none handed over
   * and no other VM relayed since it was gone (then its removal harms nothing); "hands over" where one
   * handed over or such another VM relayed; else "unknown".
   */
  get bridges(): "relays" | "hands over" | "unknown" {
    if (this.handedOver || this.relayedWithout.size > 0) return "hands over";
    return this.relayingVms.size > 0 ? "relays" : "unknown";
  }

  close(): void {
    clearInterval(this.expiry);
    for (const { fd } of this.waiting.values()) closeFd(fd);
    this.waiting.clear();
    closeFd(this.socketFd);
    removeAtStop(this.path, this.identity);
  }

  private drainOnTimer(): void {
    try {
      this.drain();
    } catch (error) {
      // Nobody to answer here; the next tick or hand-over tries again.
      log.warn(`could not read the hand-over socket ${this.path}: ${error}`);
    }
  }

  /**
   * Reads every queued datagram (one that is malformed, names no valid VM or carries no descriptor is
   * dropped, as is one the arbiter has no room for: its connection would be refused, and refused guests
   * trying again filled the descriptor table with these for their TTL), then closes those that waited
   * past the TTL for their request.
   */
  private drain(): void {
    const now = performance.now();
    for (let passed = receiveWithFd(this.socketFd, this.path); passed; ) {
      const fields = passed.fd === undefined ? undefined : decodeDatagram(passed.payload);
      if (fields && passed.fd !== undefined && !this.waiting.has(fields.nonce) && this.hasRoom())
        this.waiting.set(fields.nonce, { vm: fields.vm, fd: passed.fd, atMs: now });
      else if (passed.fd !== undefined) closeFd(passed.fd);
      passed = receiveWithFd(this.socketFd, this.path);
    }
    for (const [nonce, waiting] of this.waiting)
      if (now - waiting.atMs > this.ttlMs) {
        closeFd(waiting.fd);
        this.waiting.delete(nonce);
        log.warn(
          `closed the handed-over connection of VM '${waiting.vm}': no handover request claimed it within ` +
            `${this.ttlMs} ms (its bridge died after sending it?)`,
        );
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
