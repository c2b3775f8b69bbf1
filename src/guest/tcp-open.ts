/**
 * Opening a guest's TCP connection to the arbiter (its VM's guestfwd address) so that it can be given up.
 * Bun.connect cannot cancel a connect in progress: one whose SYN goes unanswered (the host's listener
 * has a full accept queue, or drops it) went on after the caller stopped waiting, so Ctrl-C waited out
 * the 3 s connect timeout (and then said the arbiter was unreachable), and the process, its command's
 * error already printed, stayed alive until the kernel gave up, about two minutes later. The connect is
 * our own non-blocking one (../ffi/tcp-connect.ts): given up, its socket is closed, which ends it.
 */
import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { FdSocketOptions, Socket, SocketHandler } from "bun";
import { abortedError } from "../errors.ts";
import { closeFd, isReady, POLLOUT, SystemCallError } from "../ffi/index.ts";
import { connectError, startTcpConnect } from "../ffi/tcp-connect.ts";

/** bun-types declares FdSocketOptions but no Bun.connect overload taking it; the runtime has one. */
const connectFd = Bun.connect as unknown as <Data>(options: FdSocketOptions<Data>) => Promise<Socket<Data>>;

/**
 * A connect in progress is looked at again at each turn of the event loop for its first milliseconds (a
 * VM's user-mode network answers the SYN within them: a timer's millisecond would add to every guest
 * command's start), then after pauses growing to LONGEST_LOOK_MS.
 */
const QUICK_LOOKS_MS = 5;
const LONGEST_LOOK_MS = 20;

/**
 * A socket connected to `hostname`:`port` with `handlers`. Rejects, closing what it opened, with the
 * connect's errno (a SystemCallError), with "there was no answer within MS ms" once `ms` pass, or with the
 * abort's error (Interrupted, "connect to the arbiter") as soon as `signal` aborts.
 */
export async function openTcp(
  { hostname, port }: { hostname: string; port: number },
  handlers: SocketHandler<undefined>,
  ms: number,
  signal?: AbortSignal,
): Promise<Socket<undefined>> {
  const deadline = performance.now() + ms;
  if (signal?.aborted) throw abortedError(signal, "connect to the arbiter");
  // A name's every address is tried in turn, as Bun.connect does (localhost: ::1, then 127.0.0.1).
  const ips = isIP(hostname)
    ? [hostname]
    : (await lookup(hostname, { all: true })).map((found) => found.address);
  let refused: unknown;
  for (const ip of ips) {
    let fd: number;
    try {
      fd = await connected(ip, port, `${hostname}:${port}`, { deadline, ms, signal });
    } catch (error) {
      if (!(error instanceof SystemCallError)) throw error; // this address failed (refused, no IPv6): the next
      refused = error;
      continue;
    }
    return connectFd<undefined>({ fd, socket: handlers });
  }
  throw refused;
}

/** The fd of a connection to `ip`:`port`, once made; rejects as openTcp does, closing what it opened. */
async function connected(
  ip: string,
  port: number,
  where: string,
  { deadline, ms, signal }: { deadline: number; ms: number; signal: AbortSignal | undefined },
): Promise<number> {
  const fd = startTcpConnect(ip, port);
  try {
    const quickUntil = performance.now() + QUICK_LOOKS_MS;
    for (let pause = 1; !isReady(fd, POLLOUT, where); ) {
      if (signal?.aborted) throw abortedError(signal, "connect to the arbiter");
      const now = performance.now();
      if (now >= deadline) throw new Error(`there was no answer within ${ms} ms`);
      if (now < quickUntil) await new Promise((resolve) => setImmediate(resolve));
      else {
        await Bun.sleep(Math.min(pause, deadline - now));
        pause = Math.min(pause * 2, LONGEST_LOOK_MS);
      }
    }
    const errno = connectError(fd, where);
    if (errno !== 0) throw new SystemCallError("connect", where, errno);
  } catch (error) {
    closeFd(fd);
    throw error;
  }
  return fd;
}
