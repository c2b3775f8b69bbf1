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
import { closeFd, errnoOf, isReady, POLLOUT, SystemCallError } from "../ffi/index.ts";
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
 * How long an address's connect may go unanswered before the next address is tried alongside it (RFC
 * 8305's delay): one whose SYN is dropped (a firewall, a full accept queue) held up the rest for the whole
 * timeout, where Bun.connect got through on the next address at once.
 */
const NEXT_ADDRESS_MS = 250;

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
  // A name's every address is tried, as Bun.connect does (localhost: ::1, then 127.0.0.1).
  const ips = isIP(hostname) ? [hostname] : await addressesOf(hostname, { deadline, ms, signal });
  const fd = await firstConnected(ips, port, `${hostname}:${port}`, { deadline, ms, signal });
  return connectFd<undefined>({ fd, socket: handlers });
}

/** Lookups under way that their caller stopped waiting for (see `lookupLeftRunning`). */
let givenUp = 0;

/**
 * Whether a lookup this process gave up (Ctrl-C, the timeout) is still running. It cannot be cancelled,
 * and Bun keeps the process alive until it ends (up to glibc's tries × timeout, ~10 s by default): the CLI,
 * its command over, exits at once instead (../cli.ts). A program using the library waits for it.
 */
export function lookupLeftRunning(): boolean {
  return givenUp > 0;
}

/**
 * The addresses of `hostname`. A lookup whose DNS server does not answer went on for its own ~10 s,
 * heeding neither the signal nor the timeout: both now end the wait (the lookup, which cannot be
 * cancelled, is left to end by itself, counted in `givenUp` until it does).
 */
async function addressesOf(
  hostname: string,
  { deadline, ms, signal }: { deadline: number; ms: number; signal: AbortSignal | undefined },
): Promise<string[]> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let onAbort: () => void = () => undefined;
  const given = new Promise<never>((_, reject) => {
    const late = () => reject(new Error(`there was no answer within ${ms} ms`));
    timer = setTimeout(late, Math.max(0, deadline - performance.now()));
    onAbort = () => reject(abortedError(signal, "connect to the arbiter"));
    signal?.addEventListener("abort", onAbort, { once: true });
  });
  let settled = false;
  const looked = lookup(hostname, { all: true }).finally(() => {
    settled = true;
  });
  try {
    const found = await Promise.race([looked, given]);
    return found.map((address) => address.address);
  } finally {
    clearTimeout(timer);
    signal?.removeEventListener("abort", onAbort);
    if (!settled) {
      givenUp++;
      looked.then(
        () => givenUp--,
        () => givenUp--,
      );
    }
  }
}

/**
 * The fd of the first of `ips` to connect. Each is started in turn: the next once those started failed
 * (refused, unreachable, no IPv6 socket), or NEXT_ADDRESS_MS after the last start. Rejects as openTcp does,
 * when all failed with a refusal if one was (as Bun.connect), else the last address's error; closes every
 * other socket it opened.
 */
async function firstConnected(
  ips: string[],
  port: number,
  where: string,
  { deadline, ms, signal }: { deadline: number; ms: number; signal: AbortSignal | undefined },
): Promise<number> {
  const pending: { fd: number; index: number }[] = [];
  const failures: unknown[] = [];
  let started = 0;
  let nextAt = 0;
  let quickUntil = 0;
  try {
    for (let pause = 1; ; ) {
      if (signal?.aborted) throw abortedError(signal, "connect to the arbiter");
      const now = performance.now();
      if (started < ips.length && (pending.length === 0 || now >= nextAt)) {
        const index = started++;
        try {
          pending.push({ fd: startTcpConnect(ips[index]!, port), index });
        } catch (error) {
          if (!(error instanceof SystemCallError)) throw error;
          failures[index] = error;
        }
        [nextAt, quickUntil, pause] = [now + NEXT_ADDRESS_MS, now + QUICK_LOOKS_MS, 1];
        continue;
      }
      for (const attempt of [...pending]) {
        if (!isReady(attempt.fd, POLLOUT, where)) continue;
        const errno = connectError(attempt.fd, where);
        pending.splice(pending.indexOf(attempt), 1);
        if (errno === 0) return attempt.fd;
        closeFd(attempt.fd);
        failures[attempt.index] = new SystemCallError("connect", where, errno);
      }
      // A refusal says most (something there answered; IPv6 off, ::1 cannot even be tried): else the last.
      if (pending.length === 0 && started === ips.length)
        throw failures.find((failure) => errnoOf(failure) === "ECONNREFUSED") ?? failures.at(-1);
      if (now >= deadline) throw new Error(`there was no answer within ${ms} ms`);
      if (now < quickUntil) await new Promise((resolve) => setImmediate(resolve));
      else {
        const until = started < ips.length ? Math.min(deadline, nextAt) : deadline;
        await Bun.sleep(Math.max(0, Math.min(pause, until - now)));
        pause = Math.min(pause * 2, LONGEST_LOOK_MS);
      }
    }
  } finally {
    for (const { fd } of pending) closeFd(fd);
  }
}
