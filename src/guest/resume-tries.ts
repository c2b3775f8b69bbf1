/**
 * What a resume (Client.recover) tells when the arbiter does not take the session back: it did not come
 * back, it refused this client, or this user may no longer reach it and the lease ran out meanwhile.
 */
import { failure, hasTrait, IvshError, isIvshError, reasonOf } from "../errors.ts";
import type { MappedRegion } from "../region/mapping.ts";
import { formatWait } from "../units.ts";
import {
  BridgeRefusal,
  describeEndpoint,
  type Endpoint,
  NoSocketMade,
  QueueFull,
  refusedAccess,
  worded,
} from "./link-errors.ts";
import { SOCKET_PATH_MAX_BYTES, workingDirectory } from "./socket-name.ts";

/**
 * The longest pause between reconnect attempts. Through a VM's TCP path each attempt starts an `ivsh
 * bridge` process on the host: at 250 ms, twenty guests kept both host cores busy while their arbiter
 * was down (a VM trial). So a guest backs off further, but within a quarter lease: a restored session
 * has one lease from the arbiter's restart to come back.
 */
export function longestRetryPauseMs(endpoint: Endpoint, leaseMs: number): number {
  return "unix" in endpoint ? 250 : Math.max(250, Math.min(2000, leaseMs / 4));
}

/** The arbiter went away and did not come back within the reconnect timeout: said where, and what to do. */
export function arbiterNotBack(endpoint: Endpoint, timeoutMs: number): IvshError {
  const relative = "unix" in endpoint && !endpoint.unix.startsWith("/");
  return failure(
    "ConnectionLost",
    `reach the arbiter at ${describeEndpoint(endpoint)} again`,
    `it went away and did not come back within ${formatWait(timeoutMs)} (start \`ivsh host\` again, then run this again)${relative ? relativeSocketNote(endpoint.unix) : ""}`,
  );
}

/**
 * The region file truncated under this client (a host process's file; a device's BAR never shrinks): its
 * arbiter stops on that, and none resumes a session there, so the loss is said at once, not as an arbiter
 * that "did not come back" after the reconnect timeout. A file it cannot look at is not judged.
 */
export function regionCutShort(
  region: Pick<MappedRegion, "fileSize" | "size" | "source">,
): IvshError | undefined {
  let size: number;
  try {
    size = region.fileSize();
  } catch {
    return undefined;
  }
  if (size >= region.size) return undefined;
  return failure(
    "RegionInvalid",
    `go on with the region ${region.source}`,
    `the file was truncated to ${size} bytes (from ${region.size}) while in use: its contents are lost and its ` +
      "arbiter stops on it (remove the file, then start `ivsh host` again)",
  );
}

/**
 * connect() keeps a socket relative only where its absolute path does not fit sun_path: a process that
 * changed directory since looked for it elsewhere, and was told only to start an arbiter that was running.
 */
function relativeSocketNote(socket: string): string {
  const cwd = workingDirectory() ?? "removed";
  return (
    `; ${socket} is relative, looked for from this process's working directory (${cwd}), as its absolute ` +
    `path does not fit the ${SOCKET_PATH_MAX_BYTES} bytes of a socket's: a process that changes directory ` +
    "after connecting must name the socket by a shorter path (a symlink to its directory)"
  );
}

/**
 * What a resume (Client.recover) gives up with once its reconnect timeout runs out: the arbiter's refusal
 * if its last try was refused (NoSpace: no room for another connection; it was there all along, and
 * "start `ivsh host` again" misled), else that it did not come back (arbiterNotBack). A try's refusal is
 * worded (its probes run) only here, for the last try: see RefusalUnworded.
 */
export class ResumeTries {
  private last: unknown;

  /** `droppedMs`: when the link dropped, on the monotonic clock (as lockedOut takes it). */
  constructor(
    private readonly leaseMs: number,
    private readonly droppedMs = performance.now(),
  ) {}

  /** A failed try: the loss it means at once (lockedOut), if any; the try is kept to tell. */
  failed(error: unknown): IvshError | undefined {
    this.last = error;
    return lockedOut(error, this.droppedMs, this.leaseMs);
  }

  givenUp(endpoint: Endpoint, timeoutMs: number): IvshError {
    const last = worded(this.last);
    // A full accept queue is waited for as a restart is, but told: a process is there, not to be started.
    // So is a VM's bridge's answer to the hello, which says why it could not reach the arbiter: a resume's
    // full queue comes so (not unasked), and "start `ivsh host` again" misled there too.
    const told = last instanceof QueueFull || last instanceof BridgeRefusal;
    // Out of descriptors, no try left this process: the arbiter, maybe back long since, is not to be started.
    if (last instanceof NoSocketMade)
      return failure(
        "ConnectionLost",
        `reach the arbiter at ${describeEndpoint(endpoint)} again`,
        `every try until the reconnect timeout (${formatWait(timeoutMs)}) ran out failed in this process: ${reasonOf(last)}`,
      );
    if (!isIvshError(last) || (hasTrait(last, "whileRestarting") && !told))
      return arbiterNotBack(endpoint, timeoutMs);
    return failure(
      last.code === "ArbiterUnreachable" ? "ConnectionLost" : last.code,
      `reach the arbiter at ${describeEndpoint(endpoint)} again`,
      `it refused this client until the reconnect timeout (${formatWait(timeoutMs)}) ran out: ${reasonOf(last)}`,
    );
  }
}

/**
 * A socket that refuses this user (EACCES) has an arbiter behind it, whose lease clock runs on while we
 * cannot reach it (a restart as another user): past the lease since the link dropped, our grants may be
 * someone else's, so the session is lost, not retried until the reconnect timeout. An arbiter that is
 * down (nothing listens, no socket) expires nobody, and is waited for. `droppedMs` is on the monotonic
 * clock (performance.now()), as the arbiter's leases are: a wall-clock step must not stretch the lease.
 */
export function lockedOut(error: unknown, droppedMs: number, leaseMs: number): IvshError | undefined {
  if (!refusedAccess(error) || performance.now() - droppedMs <= leaseMs) return undefined;
  return new IvshError(
    "LeaseExpired",
    `Failed to reach the arbiter again since this user may no longer open its socket and the lease (${leaseMs} ms) ran out meanwhile: what this client held may be another's now (${worded(error as IvshError).message.replace(/^Failed to /, "")})`,
  );
}

/**
 * An arbiter that is stopped or wedged keeps its connection open and answers nothing: every request
 * (alloc, open, free...) then waited for ever, where an arbiter that is gone is given up on after the
 * reconnect timeout. One silent as long, with a heartbeat waiting for its answer, is treated alike. (The
 * caller does not judge on a tick after its own freeze: the answer may be waiting, unread, in the socket.)
 */
export function silentArbiter(silentMs: number, limitMs: number): IvshError | undefined {
  if (silentMs <= limitMs) return undefined;
  const why = `it answered nothing for ${formatWait(silentMs)} with its connection open (its process may be stopped, or overloaded)`;
  return failure("ArbiterUnreachable", "hear from the arbiter", why);
}
