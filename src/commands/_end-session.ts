/**
 * The arbiter session a `guest send` / `recv` runs on, watched for the progress line (watchArbiter), and
 * the new one it takes when the first expired while the end waited for its peer with nothing moved
 * (stopped with Ctrl-Z past its lease, then `fg`): see withPeerWait. Closed once, whichever is current.
 */

import { isIvshError } from "../errors.ts";
import type { Client } from "../guest/client.ts";
import { connect } from "../guest/connect.ts";
import {
  arbiterEndpoint,
  type ConnectOptions,
  DEFAULT_RECONNECT_TIMEOUT_MS,
} from "../guest/connect-options.ts";
import { describeEndpoint } from "../guest/link-errors.ts";
import { log } from "../log.ts";
import { formatDuration } from "../units.ts";
import { type ArbiterAwayShown, watchArbiter } from "./_arbiter-watch.ts";
import type { ConnectWaitShown } from "./_progress.ts";

/** The progress line, told of the arbiter's absences, and cleared before the renewal is said. */
type EndProgress = ArbiterAwayShown & ConnectWaitShown & { done(): void };

/**
 * A connect that takes longer is said while it waits. A guest's TCP connect is given the whole wait (30 s,
 * or --timeout): one to a wrong --connect whose SYNs vanish said nothing until it failed. 3 s: what a
 * connect was once given alone; one that gets through takes milliseconds, so a slow one is still said.
 */
const CONNECT_SAID_AFTER_MS = 3000;

export class EndSession {
  private constructor(
    /** The session now. */
    public client: Client,
    private stopWatching: () => void,
    private readonly connection: ConnectOptions,
    private readonly progress: EndProgress,
    private readonly peerWaitMs: number | undefined,
    private readonly unmoved: string,
    private readonly quiet: boolean,
  ) {}

  /**
   * Connects (within `peerWaitMs`, the end's --timeout, if any; `signal` ends it) and watches the link.
   * `unmoved`: what this end knows had not happened when it starts over (a sender cannot know that nothing
   * was transferred: a receiver may have joined while it was stopped, taken its ring, and failed).
   * `quiet` (-q): the renewal is not said; -q leaves only warnings and errors.
   * No wake mailbox: a channel's ends park and wake through the arbiter (src/transfer/wait.ts); the
   * mailbox is for mutex and condvar waiters, and opening it cost every transfer ~0.2 ms.
   */
  static async open(
    connection: ConnectOptions,
    progress: EndProgress,
    peerWaitMs: number | undefined,
    signal: AbortSignal,
    unmoved: string,
    quiet = false,
  ): Promise<EndSession> {
    const options = { ...connection, signal, futexParking: false };
    const where = describeEndpoint(arbiterEndpoint(connection));
    const limit = formatDuration(peerWaitMs ?? connection.reconnectTimeoutMs ?? DEFAULT_RECONNECT_TIMEOUT_MS);
    const said = setTimeout(() => {
      if (quiet) return; // -q: warnings and errors only
      progress.connectWait(
        `for the arbiter at ${where} to answer (is that its address, and is it up? this end gives up after ${limit}, or Ctrl-C)`,
      );
    }, CONNECT_SAID_AFTER_MS);
    const client = await connect({ ...options, connectTimeoutMs: peerWaitMs }).finally(() =>
      clearTimeout(said),
    );
    const stopWatching = watchArbiter(client, connection, progress, peerWaitMs);
    return new EndSession(client, stopWatching, options, progress, peerWaitMs, unmoved, quiet);
  }

  /** A new session in place of the expired one; `leftMs`: what is left of the wait for the peer. */
  readonly renew = async (leftMs: number | undefined): Promise<Client> => {
    const expired = this.client;
    this.stopWatching();
    await expired.close({ waitForArbiter: false });
    // On a terminal the "waiting for ..." line is drawn without its newline: the notice would follow it.
    this.progress.done();
    if (!this.quiet) log.info(`${whyEnded(expired)}; ${this.unmoved}, so it waits again on a new session`);
    this.client = await connect({ ...this.connection, connectTimeoutMs: leftMs });
    this.stopWatching = watchArbiter(this.client, this.connection, this.progress, this.peerWaitMs);
    return this.client;
  };

  async close(): Promise<void> {
    this.stopWatching();
    await this.client.close({ waitForArbiter: false });
  }
}

/**
 * Why `expired`'s session ended, as the renewal says it. Only a lease that ran out on a connection still
 * open (LeaseExpired, told unasked) is this end's own stop; an arbiter that no longer knows the session on
 * a resume (SessionUnknown: restarted without its state) was said "this end was stopped longer than the
 * arbiter's lease" of an end that never stopped.
 */
function whyEnded(expired: Client): string {
  if (isIvshError(expired.lost, "LeaseExpired"))
    return `this end was stopped longer than the arbiter's ${formatDuration(expired.leaseMs)} lease, which ended its session`;
  return "the arbiter no longer knew this end's session (restarted without its state, or its lease ran out meanwhile)";
}
