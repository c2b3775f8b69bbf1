/**
 * `connect()`: where to connect (options, environment, defaults), mapping the region, and the first hello,
 * retried while an arbiter restarts. What the session then does is ./client.ts.
 */
import { DEFAULT_SYSFS } from "../defaults.ts";
import { failure, hasTrait, type IvshError, isIvshError, throwIfAborted } from "../errors.ts";
import { formatWait, LONGEST_TIMER_MS } from "../units.ts";
import { checkConnectOptions } from "./arguments.ts";
import { Client } from "./client.ts";
import {
  type ConnectOptions,
  DEFAULT_RECONNECT_TIMEOUT_MS,
  resolveConnection,
  withArbiterRegion,
  withEnvironment,
} from "./connect-options.ts";
import { QueueFull, UNIX_CLOSED_HINT, worded } from "./link-errors.ts";
import { absolutePath, absoluteSocketPath } from "./socket-name.ts";
import { CONNECT_TIMEOUT_MS, describeEndpoint, type Endpoint, Transport } from "./transport.ts";

/**
 * Maps the region and greets the arbiter. An arbiter that accepted the connection but closed it during
 * hello is restarting (killed, or replaced): the greeting is retried, as an established client reconnects,
 * until the reconnect timeout. An arbiter that was never there fails at once (ArbiterUnreachable).
 * Where to connect comes from `given`, else IVSH_SOCKET / IVSH_REGION / IVSH_CONNECT, else the defaults;
 * a host client given only the socket, with no region file at the default path, asks the arbiter.
 */
export async function connect(given: ConnectOptions = {}): Promise<Client> {
  checkConnectOptions(given);
  // Checked before the region is mapped, so a refusal leaves nothing behind.
  const totalMs = checkTimeout(
    given.connectTimeoutMs ?? given.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS,
  );
  // Used later, by every resume: checked now, not when the arbiter restarts.
  if (given.reconnectTimeoutMs !== undefined) checkTimeout(given.reconnectTimeoutMs);
  // Asking the arbiter for its region is part of connecting: within the same wait, one deadline (the
  // hellos' set after the answer gave an arbiter answering late twice the wait). With 0, "do not retry",
  // one question gets its chance (its answer a second at least, as a hello's), and a full queue no retry.
  const deadline = performance.now() + totalMs;
  const options = await withArbiterRegion(anchored(withEnvironment(given)), totalMs);
  const { region, endpoint } = resolveConnection(options);
  // Once a hello was answered, "every connection closed before anything answered" is untrue (neverAnswered).
  let [restarting, answered, tries] = [false, false, 0];
  for (let delay = 10; ; delay = Math.min(delay * 2, longestPauseMs(endpoint))) {
    try {
      throwIfAborted(options.signal, "connect to the arbiter");
    } catch (error) {
      region.close();
      throw error;
    }
    const transport = new Transport(endpoint, options.sysfsRoot ?? DEFAULT_SYSFS);
    let client: Client | undefined;
    try {
      // Once restarting, any refusal is retried: its words wait for the one thrown. A guest's TCP connect
      // gets the rest of the wait, as its hello does: through guestfwd, 20 clients started at once in a TCG
      // VM on a loaded host waited more than 5 s for their SYN's answer, and one that gave up after 3 s failed
      // untried again (a try again would cost the host another bridge). First try: the wait as given.
      const connectMs = Math.max(
        CONNECT_TIMEOUT_MS,
        tries === 0 ? totalMs : Math.ceil(deadline - performance.now()),
      );
      tries++;
      await transport.open(options.signal, restarting, connectMs);
      client = new Client(transport, region, options);
      await client.greet({ deadlineMs: deadline, totalMs });
      return client;
    } catch (error) {
      transport.close();
      answered ||= (client?.leaseMs ?? 0) > 0; // its hello's answer set it
      // Refused by an arbiter too busy (or stopped) to accept: waited for, as one that accepted and is silent.
      restarting ||= isIvshError(error, "ConnectionLost") || error instanceof QueueFull;
      const retry =
        ((restarting && hasTrait(error, "whileRestarting")) || expiredUnused(error)) &&
        performance.now() < deadline;
      if (!retry) {
        region.close();
        const told = worded(error);
        throw restarting && !answered ? (neverAnswered(endpoint, told, totalMs) ?? told) : told;
      }
      await Bun.sleep(Math.max(0, Math.min(delay, deadline - performance.now()))); // its last try at the deadline
    }
  }
}

/**
 * A session that expired before connect() returned it: this process was stopped (Ctrl-Z, SIGSTOP) or
 * starved past the lease between its hello and the region's check. Nobody used it, nothing was granted
 * in it: a new hello loses nothing. It failed "lease expired" at once, where an end stopped a moment later
 * (waiting for its peer) started over on a new session.
 */
function expiredUnused(error: unknown): boolean {
  return isIvshError(error, "LeaseExpired");
}

/**
 * The socket and region made absolute once, here: every reconnect (an arbiter restarted) opens the socket
 * again by its path, and the region's path names it in errors. Kept relative, a process.chdir() after
 * connect() sent the reconnects to another directory, where no arbiter answered. A socket whose absolute
 * path does not fit sun_path stays as given (absoluteSocketPath).
 */
function anchored(options: ConnectOptions): ConnectOptions {
  const { socket, region } = options;
  return {
    ...options,
    ...(socket === undefined ? {} : { socket: absoluteSocketPath(socket) }),
    ...(region === undefined ? {} : { region: absolutePath(region) }),
  };
}

/**
 * Through a VM's guestfwd each try starts an `ivsh bridge` process (~40 MiB) on a host whose arbiter is
 * restarting, or too busy to accept (its queue full): a guest tries at most once a second, not four
 * times, as a resume backs off further too (longestRetryPauseMs).
 */
function longestPauseMs(endpoint: Endpoint): number {
  return "unix" in endpoint ? 250 : 1000;
}

/**
 * Through a VM's guestfwd every connection is accepted (by QEMU itself), so a bridge command that cannot
 * run, or dies at once, looks like an arbiter restarting: the connection closes during hello, again and
 * again. Once that has gone on for the whole wait, say where to look instead of "closed during hello".
 */
function neverAnswered(endpoint: Endpoint, error: unknown, totalMs: number): IvshError | undefined {
  if (!isIvshError(error, "ConnectionLost")) return undefined;
  if ("unix" in endpoint)
    return failure(
      "ConnectionLost",
      `greet the arbiter at ${endpoint.unix}`,
      `every connection closed before anything answered, for ${formatWait(totalMs)}: ${UNIX_CLOSED_HINT}; ` +
        "or an arbiter there keeps stopping (its log says why)",
    );
  return failure(
    "ConnectionLost",
    `greet the arbiter at ${describeEndpoint(endpoint)}`,
    `every connection closed before anything answered, for ${formatWait(totalMs)}: the host's command behind ` +
      "the VM's guestfwd (`ivsh bridge --vm NAME --socket SOCKET`) fails to run or dies at once; its stderr on " +
      "the host says why (scripts/qemu/launch.sh in ivsh's source repository shows it as [bridge NAME] lines)",
  );
}

/** A timeout a timer can hold: setTimeout fires at once for NaN, Infinity or anything past 2^31-1 ms. */
function checkTimeout(ms: number): number {
  if (Number.isFinite(ms) && ms >= 0 && ms <= LONGEST_TIMER_MS) return ms;
  throw failure(
    "InvalidArgument",
    "connect to the arbiter",
    `the timeout ${ms} ms is not between 0 and ${LONGEST_TIMER_MS} ms (connectTimeoutMs / reconnectTimeoutMs)`,
  );
}
