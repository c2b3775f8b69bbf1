/**
 * The 2015 report's API, so its Fig. 1 / Fig. 2 loops port line by line (the port, `fig1Writer` and
 * `fig2Reader`, is the package's src/guest/report-loops.ts). A process calls `shm_init` once; condition
 * variables are named by the id `shm_create_cv` returns, and `uid` is the caller's client id as
 * `shm_uid()` returns it (checked, as the report's daemon checked it). A writer, in one process (a reader
 * elsewhere waits with `shm_wait_cv(cv, uid)` while the byte is 0):
 *
 * ```ts
 * import { shm_acquire_cv, shm_alloc, shm_create_cv, shm_dealloc, shm_finish, shm_init, shm_notify_cv, shm_release_cv } from "ivsh/shm";
 *
 * const uid = await shm_init(); // connect()'s options; none: IVSH_SOCKET / IVSH_REGION / IVSH_CONNECT, else the defaults
 * const cv = await shm_create_cv("area-ready");
 * const area = await shm_alloc(4096, "write", "area"); // area.bytes: the shared memory itself
 * await shm_acquire_cv(cv, uid);
 * area.bytes[0] = 1; // the report's "data available"
 * shm_notify_cv(cv, uid);
 * shm_release_cv(cv, uid);
 * await shm_dealloc(area);
 * await shm_finish();
 * ```
 * @module ivsh/shm
 */

import { failure, isIvshError, reasonOf, shownName } from "../errors.ts";
import type { AccessModeName } from "../protocol/messages.ts";
import { checkConnectOptions } from "./arguments.ts";
import type { Client, ConnectOptions } from "./client.ts";
import type { CondVar } from "./condvar.ts";
import { connect } from "./connect.ts";
import { arbiterEndpoint, clientNameOf, withEnvironment } from "./connect-options.ts";
import { Segment } from "./segment.ts";
import { resolvedPath } from "./socket-name.ts";
import type { LockOutcome, UntimedWaitResult } from "./sync.ts";

let current: Client | undefined;
/** The first shm_init's connection, shared by calls made while it is under way (one client per process). */
let connecting: { promise: Promise<Client>; where: Where; shown: string } | undefined;
const condvars = new Map<number, CondVar>();
/**
 * Why this process has no connection, as a call without one is told: "not called" was wrong after a
 * shm_init() that failed, or a shm_finish(), and one still connecting is told so (client()).
 */
let whyNone = "shm_init() has not been called (await shm_init() first)";
const INIT_FAILED = "the last shm_init() failed (call shm_init() again)";

/**
 * Every shm_* call that returns a promise is async: a failure found before any request (no shm_init, a
 * wrong id) must reject, as its type says, not throw at the call (`shm_alloc(n).catch(...)` missed it).
 */
function client(): Client {
  if (current) return current;
  // `connecting` stays set once connected: without `current`, a shm_init() is under way.
  const why = connecting ? "shm_init() has not finished connecting yet (await it first)" : whyNone;
  throw failure("ProtocolState", "use the shm_* API", why);
}

function condvar(cvid: number, uid: number): CondVar {
  // First: after shm_finish() the ids are forgotten, and "shm_create_cv() did not return that id" was wrong.
  const connected = client();
  // A caller without types passing "0" or "1" was told the id was never returned, or the uid not its own.
  checkId(cvid, "cvid", "use a condition variable", "what shm_create_cv() returned");
  checkId(uid, "uid", `use condition variable ${cvid}`, "what shm_init() or shm_uid() returned");
  const found = condvars.get(cvid);
  if (!found)
    throw failure("NotFound", `use condition variable ${cvid}`, "shm_create_cv() did not return that id");
  if (uid !== connected.clientId)
    throw failure(
      "PermissionDenied",
      `use condition variable ${cvid}`,
      `uid ${uid} is not this client (its uid is ${connected.clientId}: shm_uid())`,
    );
  return found;
}

function checkId(value: unknown, what: string, action: string, pass: string): void {
  if (typeof value !== "number")
    throw failure(
      "InvalidArgument",
      action,
      `its ${what} ${typeof value === "string" ? `'${value.slice(0, 40)}'` : typeof value === "object" && value ? "(an object)" : String(value)} is not a number (pass ${pass})`,
    );
}

/**
 * What a shm_init()'s options resolve to, as connect() resolves them: compared as written, a call naming
 * the socket IVSH_SOCKET had named, or a path once relative and once absolute, was "other options".
 * `region` is left undefined when neither the options nor IVSH_REGION name one (then the arbiter's own).
 */
interface Where {
  endpoint: string;
  region: string | undefined;
  name: string;
  /** Whether the options named none of socket, tcp, region, name: whatever this process is connected to. */
  none: boolean;
}

function whereOf(options: ConnectOptions): Where {
  const resolved = withEnvironment(options);
  const endpoint = arbiterEndpoint(resolved);
  return {
    // As the kernel reads them (absolutePath): "a.sock/" names no socket, "link/../a.sock" not ./a.sock;
    // and through a symlinked directory, the file it leads to (resolvedPath).
    endpoint: "unix" in endpoint ? resolvedPath(endpoint.unix) : `${endpoint.hostname}:${endpoint.port}`,
    region: resolved.region === undefined ? undefined : resolvedPath(resolved.region),
    name: clientNameOf(options.name),
    none: namesNone(options),
  };
}

/** Only these name a connection: options giving only timeouts (or nothing) name none. */
function namesNone({ socket, tcp, region, name }: ConnectOptions): boolean {
  return [socket, tcp, region, name].every((given) => given === undefined);
}

/**
 * Whether a call's `where` is the connection made for `made`. A region the call names is compared with the
 * one the connection mapped (`mapped`, once connected) when the first call left it to the arbiter.
 */
function sameConnection(where: Where, made: Where, mapped?: string): boolean {
  if (where.none) return true;
  if (where.endpoint !== made.endpoint || where.name !== made.name) return false;
  const madeRegion = made.region ?? (mapped === undefined ? undefined : resolvedPath(mapped));
  return where.region === undefined || madeRegion === undefined || where.region === madeRegion;
}

/**
 * The options that name a connection, as an error quotes them: the client name cut (one of megabytes
 * connects, cut for the hello); the paths whole, for a socket's may be up to 107 bytes and each byte counts.
 */
function shownOptions({ socket, tcp, region, name }: ConnectOptions): string {
  return JSON.stringify({ socket, tcp, region, name: name === undefined ? undefined : shownName(name) });
}

/**
 * Connects this process (once: later calls return the same uid; a call naming another arbiter, region or
 * client name is refused, not ignored; compared as they resolve, with IVSH_SOCKET / IVSH_REGION /
 * IVSH_CONNECT and relative paths made absolute, and a region left out taken to be the arbiter's). Once the session is lost for good (the arbiter did not come back in
 * time, the lease expired), a call connects anew, with a new uid; the lost session's cv ids are forgotten.
 */
export async function shm_init(options: ConnectOptions = {}): Promise<number> {
  try {
    checkConnectOptions(options, "shm_init()");
  } catch (error) {
    if (!current) whyNone = INIT_FAILED;
    throw error;
  }
  // Returning the lost session's uid left every later call failing, with no way on but shm_finish().
  if (current?.lost)
    await finishAs("this process's session was lost, and shm_init() is connecting anew (await it first)");
  let where: Where;
  try {
    // One naming nothing is this process's connection, whatever the environment says by now.
    where = connecting && namesNone(options) ? connecting.where : whereOf(options);
  } catch (error) {
    if (!current) whyNone = INIT_FAILED;
    throw error;
  }
  if (connecting && !sameConnection(where, connecting.where)) throw otherOptions(connecting, options, where);
  connecting ??= { promise: connect(options), where, shown: shownOptions(options) };
  const entry = connecting;
  let connected: Client;
  try {
    connected = await entry.promise;
  } catch (error) {
    if (connecting === entry) [connecting, whyNone] = [undefined, INIT_FAILED]; // a later call may try again
    throw error;
  }
  // shm_finish() ran while we connected: this connection is not the process's any more.
  if (connecting !== entry)
    throw failure("ConnectionLost", "shm_init()", "shm_finish() was called while it connected");
  // A region named now, where the first call left it to the arbiter, is known only once connected.
  if (!sameConnection(where, entry.where, connected.region.source)) throw otherOptions(entry, options, where);
  current = connected;
  return current.clientId;
}

function otherOptions(made: { where: Where; shown: string }, options: ConnectOptions, where: Where) {
  const named = made.where.none
    ? "none: IVSH_SOCKET / IVSH_REGION / IVSH_CONNECT, else the defaults"
    : made.shown;
  const shown = shownOptions(options);
  return failure(
    "InvalidArgument",
    "shm_init() again",
    `this process is connected already, with other options (its shm_init() named ${named}; this call names ${shown}${shown === made.shown ? sameWords(made.where, where) : ""}): call shm_finish() first`,
  );
}

/**
 * Why options quoted alike are other options: two client names cut alike where they are quoted (names of
 * the same first characters were said to be "the same words, which now lead to" the very same paths), or
 * the paths lead elsewhere now.
 */
function sameWords(made: Where, now: Where): string {
  if (made.name !== now.name) return ", alike as quoted, but the client names differ past the part quoted";
  return leadElsewhere(made, now);
}

/**
 * Why the same options are other options: two calls quoted alike, and nothing said what differed. A relative
 * path after a process.chdir(), a symbolic link changed, or the variables, lead to another socket or region.
 */
function leadElsewhere(made: Where, now: Where): string {
  const where = ({ endpoint, region }: Where) =>
    `${endpoint}${region === undefined ? "" : ` with the region ${region}`}`;
  return (
    `, the same words, which now lead to ${where(now)}, not ${where(made)} (the working directory, a ` +
    "symbolic link or IVSH_SOCKET / IVSH_REGION / IVSH_CONNECT changed since)"
  );
}

/**
 * What `call` made with this process's client, unless shm_finish() ran meanwhile: then it is the finished
 * session's (a segment whose bytes said "connect() again", a cv id the next session took for its own).
 */
async function ofThisSession<T>(action: string, call: (connected: Client) => Promise<T>): Promise<T> {
  const connected = client();
  const made = await call(connected);
  if (current !== connected)
    throw failure("ConnectionLost", action, "shm_finish() was called while it ran (shm_init() again)");
  return made;
}

/** The caller's uid for the cv calls. */
export function shm_uid(): number {
  return client().clientId;
}

/** Allocates `size` bytes (shared under `name` if given); the view is `segment.bytes`. */
export async function shm_alloc(
  size: number,
  mode: AccessModeName = "write",
  name?: string,
): Promise<Segment> {
  return await ofThisSession("allocate a segment", (connected) =>
    connected.alloc(size, name === undefined ? { mode } : { mode, name }),
  );
}

/** Attaches to a segment another process allocated under `name`. */
export async function shm_open(name: string, mode: AccessModeName = "write"): Promise<Segment> {
  return await ofThisSession("open a segment", (connected) => connected.open(name, mode));
}

/** Gives the segment back (its blocks become inaccessible to this process). */
export async function shm_dealloc(segment: Segment): Promise<void> {
  // A caller without types passing what is not a segment got a bare TypeError ("segment.free is not a function").
  if (!(segment instanceof Segment))
    throw failure(
      "InvalidArgument",
      "shm_dealloc()",
      `its argument ${segment === null || typeof segment !== "object" ? String(segment) : "(an object)"} is not a segment shm_alloc() or shm_open() returned`,
    );
  await segment.free();
}

/** Creates (or opens, if another process created it first) the condition variable `name`. */
export async function shm_create_cv(name: string): Promise<number> {
  const action =
    typeof name === "string"
      ? `create condition variable '${shownName(name)}'`
      : "create a condition variable";
  let created: CondVar;
  try {
    // Kept after a shm_finish() that ran meanwhile, the finished session's id would pass in the next one.
    created = await ofThisSession(action, (connected) => connected.condvar(name));
  } catch (error) {
    // Refused in the object API's words ("open condvar 'x'", here and in the arbiter): the call was this one.
    if (isIvshError(error) && /^Failed to open (a )?condvar\b/.test(error.message))
      throw failure(error.code, action, reasonOf(error));
    throw error;
  }
  condvars.set(created.slot, created);
  return created.slot;
}

/** Takes the cv's lock; "owner-died" if its last holder died holding it. */
export async function shm_acquire_cv(cvid: number, uid: number): Promise<LockOutcome> {
  const cv = condvar(cvid, uid);
  try {
    return await cv.acquire();
  } catch (error) {
    // Without a timeout, acquire()'s only InvalidArgument: "this client holds it already (... tasks that
    // contend for it each connect their own)", in lock()'s words and with advice one shm_init() cannot take.
    if (!isIvshError(error, "InvalidArgument")) throw error;
    throw failure(
      "InvalidArgument",
      `acquire condition variable ${cvid} ('${cv.name}')`,
      "this process holds its lock already (it is taken once per process: shm_release_cv() it first)",
    );
  }
}

/** Releases the cv's lock. */
export function shm_release_cv(cvid: number, uid: number): void {
  const cv = condvar(cvid, uid);
  try {
    cv.release();
  } catch (error) {
    throw inReleaseWords(error, `release condition variable ${cvid} ('${cv.name}')`, cv, uid);
  }
}

/**
 * release()'s refusals said "unlock 'c'": a call a shm_* user never made. Its NotHeld (the handle is never
 * closed here) is a lock this process does not hold; a LeaseExpired keeps its reason.
 */
function inReleaseWords(error: unknown, action: string, cv: CondVar, uid: number): unknown {
  if (isIvshError(error, "LeaseExpired")) return failure("LeaseExpired", action, reasonOf(error));
  return isIvshError(error, "NotHeld") ? notHeldHere(action, cv, uid) : error;
}

/** A cv's lock this process does not hold, and who does, in the shm_* API's words. */
function notHeldHere(action: string, cv: CondVar, uid: number) {
  const owner = cv.owner; // read only now: a lost session's client may be closed, and owner refuses then
  const whose = owner ? `uid ${owner} holds it, not this process (uid ${uid})` : "it is not locked";
  return failure(
    "NotHeld",
    action,
    `this process does not hold its lock: ${whose} (shm_acquire_cv() it first)`,
  );
}

/**
 * Releases the cv's lock, sleeps until notified, re-acquires (call it holding the lock, else NotHeld).
 * "owner-died" if a holder died with the lock meanwhile: the wait ends then, as that holder will never
 * notify, and what the lock guards may be half-updated.
 */
export async function shm_wait_cv(cvid: number, uid: number): Promise<UntimedWaitResult> {
  const cv = condvar(cvid, uid);
  // Before wait(), whose refusal is in the object API's words ("acquire() it first"); a lost session's
  // error is wait()'s to tell, as it comes before whose lock it is.
  if (!current?.lost && cv.owner !== uid)
    throw notHeldHere(`wait on condition variable ${cvid} ('${cv.name}')`, cv, uid);
  return await cv.wait();
}

/**
 * Wakes a waiter of the cv (waiters still spinning see it too, so more than one may wake: each re-checks
 * its condition); under the cv's lock, it wakes when the lock is released. With no waiter it is not kept.
 */
export function shm_notify_cv(cvid: number, uid: number): void {
  condvar(cvid, uid).notify();
}

/** Disconnects this process: what it still holds is released; `shm_init` may connect again. */
export async function shm_finish(): Promise<void> {
  await finishAs(
    "shm_init() has not been called since shm_finish() ended this process's connection (call shm_init() again)",
  );
}

/** Ends this process's connection, if any; `why` is what calls are told after it. */
async function finishAs(why: string): Promise<void> {
  condvars.clear();
  const pending = connecting;
  if (current || pending) whyNone = why;
  current = undefined;
  connecting = undefined;
  // One still connecting is closed once it is there, so no session outlives the finish.
  const closing = await pending?.promise.catch(() => undefined);
  await closing?.close();
}
