/**
 * How many connections the arbiter keeps open at once: as many as its open-file limit leaves room for.
 *
 * Why: past that limit accept(2) fails with EMFILE, and Bun's listener, told the socket is still readable,
 * retries at once for as long as the clients wait: a core spun at 100 % (2.6 s of CPU in 3 s, 50 clients
 * against a limit of 40) while the clients got no answer and no reason. So a connection past
 * `limit − RESERVED` is answered with an error naming the limit and closed, which keeps descriptors free
 * and the listener quiet; past `limit − HARD_RESERVED` (a flood of such connections, each held open for its
 * close grace) one is closed unanswered, as the kernel would have refused it.
 *
 * The limit is read at each connection (a system call, no descriptor needed), so one raised or lowered
 * with `prlimit --pid` while the arbiter runs counts at once.
 *
 * Descriptors can still run out some other way (the system's whole file table, ENFILE; a leak). Bun's
 * listener says nothing then: the arbiter just stops answering new clients. So each sweep also opens
 * /dev/null and closes it again (`checkDescriptors`); if that fails with EMFILE or ENFILE, accept fails
 * too, and the operator is told, at most once per LOG_EVERY_MS, with the limit to raise.
 */
import { closeSync, openSync, readdirSync } from "node:fs";
import type { Socket } from "bun";
import { failure, type IvshError } from "../errors.ts";
import { errnoOf, openFileLimit } from "../ffi/index.ts";
import { log } from "../log.ts";
import { HOST_VM } from "../protocol/messages.ts";
import { plural } from "../units.ts";
import type { Connection } from "./connection.ts";

/** Descriptors kept for the arbiter's own files: region, journal, listeners, epoll, compaction child... */
export const RESERVED_DESCRIPTORS = 32;
/** Below this many free descriptors a connection is not even answered. */
const HARD_RESERVED_DESCRIPTORS = 16;
/**
 * At most this many descriptors open as the arbiter starts, stdio and Bun's own included (about a dozen):
 * the reserves above count on it. Any more were inherited (a parent's leaked files) and are held for
 * good: not counted, they took the reserve, accept(2) failed with EMFILE, and the listener spun again.
 */
const OPEN_AT_START = HARD_RESERVED_DESCRIPTORS;

/** Descriptors open now beyond what the reserves count on (`OPEN_AT_START`): 0 for a plain start. */
export function inheritedDescriptors(): number {
  try {
    // Less the listing's own descriptor.
    return Math.max(0, readdirSync("/proc/self/fd").length - 1 - OPEN_AT_START);
  } catch {
    return 0;
  }
}
const LOG_EVERY_MS = 10_000;

/**
 * What the open-file limit the arbiter starts with means for its clients. Up to HARD_RESERVED it could
 * not even tell one why it is refused (each is closed unanswered, which the client reads as "not an ivsh
 * arbiter", the log silent): the start is refused. Up to RESERVED each is refused naming the limit, which
 * may still be raised while the arbiter runs (prlimit --pid): the operator is warned. Undefined when there
 * is room.
 */
export function openFileLimitWarning(
  limit = openFileLimit(),
  inherited = inheritedDescriptors(),
): string | undefined {
  const said = `its open-file limit (ulimit -n ${limit})`;
  const kept = `it keeps ${keptFor(inherited)}, and each connection needs one more`;
  const where = "ulimit -n, or LimitNOFILE= in its systemd unit";
  if (limit <= HARD_RESERVED_DESCRIPTORS + inherited)
    throw failure(
      "NoSpace",
      "start the arbiter",
      `${said} leaves no descriptor to answer a client with (${kept}): raise the limit it runs with (${where}), e.g. to 1024`,
    );
  if (limit > RESERVED_DESCRIPTORS + inherited) return undefined;
  // Bun raised the soft limit to the hard one: that is as low, and only root may raise a hard limit.
  return `${said} leaves room for no connection (${kept}): every client is refused until it is raised (now: as root, prlimit --pid ${process.pid} --nofile=1024; ${where}, for the next start)`;
}

/** What the arbiter keeps its descriptors for, in words. */
function keptFor(inherited: number): string {
  const own = `${RESERVED_DESCRIPTORS} descriptors for its own files`;
  return inherited === 0 ? own : `${own} and ${inherited} more it inherited open`;
}

export class ConnectionLimit {
  /** Sockets open now, served or being turned away: each holds a descriptor until it closes. */
  private readonly open = new Set<Socket<Connection>>();

  /** Each VM's connections, counted once its VM is known (`joinVm`): a guest's from its bridge, the host's from hello. */
  private readonly byVm = new Map<string, Set<Socket<Connection>>>();
  /**
   * The VM each counted socket is counted for: its `vm` can change after (a host connection refused at
   * hello may still identify as a VM), and its close must free the count it took, not the new VM's.
   */
  private readonly countedFor = new Map<Socket<Connection>, string>();

  private loggedAtMs = Number.NEGATIVE_INFINITY;

  /** Inherited descriptors held besides the reserves (`inheritedDescriptors`), counted as the arbiter starts. */
  private readonly inherited = inheritedDescriptors();

  constructor(
    /** Descriptors held for connections not open yet: those handed over, waiting for their request. */
    private readonly waiting: () => number = () => 0,
    private readonly limit: () => number = openFileLimit,
    /** --vm-connections (0: none), and how many sessions a VM has (after a restart, each may come back). */
    private readonly perVm: { limit: () => number; sessions: (vm: string) => number } = {
      limit: () => 0,
      sessions: () => 0,
    },
  ) {}

  /** Counts a newly opened socket in; false if it was turned away (answered with the reason, or closed). */
  letIn(socket: Socket<Connection>): boolean {
    this.open.add(socket);
    const limit = this.limit();
    const held = this.open.size + this.waiting();
    if (held <= limit - RESERVED_DESCRIPTORS - this.inherited) return true;
    if (held <= limit - HARD_RESERVED_DESCRIPTORS - this.inherited)
      socket.data.failAndClose(0, 0, this.refusal(limit));
    else socket.terminate();
    return false;
  }

  /** Whether one more descriptor may be kept for a connection (a handed-over one, until it is claimed). */
  hasRoom(): boolean {
    return this.open.size + this.waiting() < this.limit() - RESERVED_DESCRIPTORS - this.inherited;
  }

  /**
   * Counts the socket among its VM's connections (`socket.data.vm`, known now), or returns why not: the VM
   * has --vm-connections open already. One VM could otherwise take every connection the open-file limit
   * allows, and every other VM's, and the host's, were refused. A VM with more sessions than that (kept
   * over a restart with a lower limit) may have a connection for each: they hold what they held, and only
   * new sessions are refused (`newSessionRefusal`, at hello).
   */
  joinVm(socket: Socket<Connection>, resuming = false): IvshError | undefined {
    const { vm } = socket.data;
    const sockets = this.byVm.get(vm) ?? new Set<Socket<Connection>>();
    const limit = this.perVm.limit();
    if (limit > 0 && !sockets.has(socket) && !resuming) {
      const allowed = Math.max(limit, this.perVm.sessions(vm));
      if (sockets.size >= allowed) return this.vmRefusal(vm, sockets.size, limit);
    }
    if (this.countedFor.get(socket) !== vm) this.uncount(socket);
    this.byVm.set(vm, sockets.add(socket));
    this.countedFor.set(socket, vm);
    return undefined;
  }

  /**
   * Why a new session of `vm`, with `connected()` sessions on a connection now, is refused; undefined if
   * not. `connected` walks the VM's sessions: asked only under a limit (thousands of host clients said hello
   * in turn, each walking the others').
   */
  newSessionRefusal(vm: string, connected: () => number): IvshError | undefined {
    const limit = this.perVm.limit();
    if (limit === 0) return undefined;
    const count = connected();
    return count >= limit ? this.vmRefusal(vm, count, limit) : undefined;
  }

  /** Connections counted for the VM (`joinVm`) and open now. */
  vmConnections(vm: string): number {
    return this.byVm.get(vm)?.size ?? 0;
  }

  /** The socket closed (called once or more per socket: Bun may report both an error and the close). */
  left(socket: Socket<Connection>): void {
    this.open.delete(socket);
    this.uncount(socket);
  }

  /** Takes the socket out of the VM it was counted for, if any. */
  private uncount(socket: Socket<Connection>): void {
    const vm = this.countedFor.get(socket);
    if (vm === undefined) return;
    this.countedFor.delete(socket);
    const sockets = this.byVm.get(vm);
    if (!sockets?.delete(socket) || sockets.size > 0) return;
    this.byVm.delete(vm);
  }

  /** Logs (rate-limited) if no descriptor can be opened now. */
  checkDescriptors(): void {
    let errno: string;
    try {
      closeSync(openSync("/dev/null", "r"));
      return;
    } catch (error) {
      errno = errnoOf(error);
    }
    if (errno !== "EMFILE" && errno !== "ENFILE") return;
    if (performance.now() - this.loggedAtMs < LOG_EVERY_MS) return;
    this.loggedAtMs = performance.now();
    log.error(
      errno === "EMFILE"
        ? `cannot accept connections: too many open files (EMFILE); raise ulimit -n (now ${this.limit()}) or close idle clients`
        : "cannot accept connections: the system's file table is full (ENFILE); raise fs.file-max or close files elsewhere",
    );
  }

  private vmRefusal(vm: string, open: number, limit: number): IvshError {
    const host = vm === HOST_VM ? " (the host's processes with a session count together)" : "";
    return failure(
      "QuotaExceeded",
      "accept a connection",
      `VM '${vm}' already has ${plural(open, "connection")} open, its --vm-connections limit of ${limit}${host}: close some of its clients, or raise --vm-connections`,
    );
  }

  private refusal(limit: number): IvshError {
    const raise = "raise the limit ivsh host runs with (ulimit -n, or LimitNOFILE= in its systemd unit)";
    // At a limit of RESERVED or less (warned of at start) no connection is open to close: room for "-12" read as nonsense.
    const room = limit - RESERVED_DESCRIPTORS - this.inherited;
    if (room <= 0)
      return failure(
        "NoSpace",
        "accept a connection",
        `the arbiter's open-file limit (ulimit -n ${limit}) leaves room for no connection (it keeps ` +
          `${keptFor(this.inherited)}): ${raise}`,
      );
    const inherited = this.inherited === 0 ? "" : `, ${this.inherited} inherited descriptors aside`;
    return failure(
      "NoSpace",
      "accept a connection",
      `the arbiter has as many connections open as its open-file limit (ulimit -n ${limit}) leaves room for ` +
        `(${room}${inherited}); ${raise}, or close idle clients`,
    );
  }
}
