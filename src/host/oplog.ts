/**
 * What the arbiter tells its operator (stderr, or the journal under systemd): sessions that start,
 * resume and end with who they were, lease expiries, locks released as owner-died, requests refused and
 * why. One line per event, never per successful request: the fast paths (lock, wait, wake, alloc) print
 * nothing, and a refusal is already the slow path. Levels: `ivsh host --log-level`, -q, -v.
 */
import { hasTrait, type IvshError } from "../errors.ts";
import { log } from "../log.ts";
import { channelOfSlotName } from "../region/layout.ts";
import { plural } from "../units.ts";

export interface SessionIdentity {
  clientId: number;
  name: string;
  pid: number;
  vm: string;
}

/** What a session held when it ended, as the arbiter released it. */
export interface Released {
  grants: number;
  syncHolds: number;
  /** The locks (and channel roles) it held, now marked owner-died for their next holder or its peer. */
  ownerDied: { name: string; kind: string }[];
}

function who(session: SessionIdentity): string {
  return `client #${session.clientId} '${session.name}' (pid ${session.pid}, VM ${session.vm})`;
}

/**
 * Fresh sessions whose "connected" line is held until they ask for more than status: a monitor polling
 * `ivsh status` every 10 s would otherwise log 17 000 lines a day. Judged by what a session does, not by
 * the name it gives (any client could call itself "ivsh status" to hide). Keyed by the session itself,
 * so arbiters sharing a process (tests) cannot mix theirs up.
 */
const unannounced = new WeakSet<SessionIdentity>();

export function sessionStarted(session: SessionIdentity, resumed: boolean): void {
  if (resumed) log.info(`${who(session)} resumed its session`);
  else unannounced.add(session);
}

/** The session asked for something beyond status: its held "connected" line is due. */
export function sessionActive(session: SessionIdentity | undefined): void {
  if (session && unannounced.delete(session)) log.info(`${who(session)} connected`);
}

export type EndReason = "said goodbye" | "disconnected" | "lease expired";

/**
 * A session still unannounced at its end: one debug line if it asked for nothing beyond status and said
 * goodbye; otherwise its held "connected" line goes first, then its end as any other.
 */
function endedQuietly(session: SessionIdentity, quietGoodbye: boolean): boolean {
  if (!unannounced.delete(session)) return false;
  if (quietGoodbye)
    log.debug(`${who(session)} connected and said goodbye, having asked for nothing beyond status`);
  else log.info(`${who(session)} connected`);
  return quietGoodbye;
}

/** `late`: it left earlier, when the state journal could not record it; recorded (and released) now. */
export function sessionEnded(
  session: SessionIdentity,
  reason: EndReason,
  released: Released,
  late = false,
): void {
  if (endedQuietly(session, reason === "said goodbye" && !late && released.grants + released.syncHolds === 0))
    return;
  const held = `released ${plural(released.grants, "grant")} and ${plural(released.syncHolds, "lock handle")}`;
  const when = late ? " (recorded only now, as the state journal could not be written then)" : "";
  const line = `${who(session)} ${reason === "lease expired" ? "lost its lease" : reason}${when}: ${held}`;
  if (reason === "lease expired") log.warn(line);
  else log.info(line);
  for (const { name, kind } of released.ownerDied)
    if (kind === "channel")
      // A transfer end that left: its peer is told and fails or waits for the next one, as designed.
      log.info(
        `${who(session)} held a role on channel '${channelOfSlotName(name)}': released (its peer is told)`,
      );
    else
      log.warn(
        `${kind} '${name}' was held by ${who(session)}: released as owner-died (its next holder is told)`,
      );
}

/** A client closed its last handle on a mutex or condvar while holding its lock. */
export function lockAbandoned(
  session: SessionIdentity,
  { name, kind }: { name: string; kind: string },
): void {
  log.warn(
    `${kind} '${name}' was held by ${who(session)} when it closed its last handle: released as owner-died (its next holder is told)`,
  );
}

/**
 * `retry`: a smaller ask after one refused for want of room (allocRetried), which a sender's ring halving
 * to fit makes up to 8 times for one send: said once, at info, the rest at debug.
 */
export function requestRefused(
  clientId: number,
  vm: string,
  request: string,
  error: IvshError,
  retry = false,
): void {
  const line = `client #${clientId} (VM ${vm || "?"}): ${request} refused${retry ? " again, smaller" : ""}: ${error.message}`;
  // Refusals a working program meets routinely (looking a name up, a lock's timeout): debug, not info.
  if (retry || hasTrait(error, "routine")) log.debug(line);
  else log.info(line);
}

/** Per session, its last alloc refused for want of room (its bytes, and why), until one of its allocs succeeds. */
const refusedAsk = new WeakMap<SessionIdentity, { bytes: number; why: string }>();

/**
 * Notes an alloc of `bytes` refused for want of room (NoSpace, QuotaExceeded) as `message` says; true if it
 * asked for less than the session's last such refusal, for the same reason: a retry made smaller, not news.
 * One as large or larger is, and so is another reason (a quota, then the region full): the operator would
 * see only the first, not the one the send then failed on.
 */
export function allocRetried(session: SessionIdentity, bytes: number, message: string): boolean {
  const last = refusedAsk.get(session);
  const why = reasonOf(message);
  refusedAsk.set(session, { bytes, why });
  return last !== undefined && bytes < last.bytes && why === last.why;
}

/** A refusal's words without its counts and sizes (and the plurals they choose), which a halving changes. */
function reasonOf(message: string): string {
  return message
    .replace(/\d[\d.,]*(?:\s*[KMGT]?i?B\b)?/g, "#")
    .replace(/\b(block|segment|byte)s\b/g, "$1")
    .replace(/\b(?:is|are)\b/g, "be");
}

/** An alloc of the session succeeded: its next refusal is news again. */
export function allocGranted(session: SessionIdentity): void {
  refusedAsk.delete(session);
}
