/**
 * While an end waits for its peer, what it may really be waiting for is the arbiter: gone (its connection
 * closed; the end retries for the reconnect timeout) or silent (stopped, or its host frozen). A line that
 * goes on saying "waiting for a sender" sends the user to the wrong program, so the progress line names
 * the arbiter and what to do until it answers again.
 */
import {
  arbiterEndpoint,
  type ConnectOptions,
  DEFAULT_RECONNECT_TIMEOUT_MS,
} from "../guest/connect-options.ts";
import { describeEndpoint } from "../guest/link-errors.ts";
import type { ChannelClient } from "../transfer/channel-client.ts";
import { ArbiterSilence } from "../transfer/peer-wait.ts";
import { formatDuration } from "../units.ts";

/** How often the link is looked at: a person reads the line, a quarter second is soon enough. */
const WATCH_MS = 250;

/**
 * The arbiter's absence as the progress line says it: `line` in any wait, `waitingForPeer` while the end
 * waits for its peer to show up, the one wait its --timeout also ends.
 */
export interface ArbiterAway {
  line: string;
  waitingForPeer: string;
}

/** The progress line's side of it: `away` replaces what it waits for, undefined restores it. */
export interface ArbiterAwayShown {
  arbiterAway(away: ArbiterAway | undefined): void;
}

/**
 * Watches `client`'s link until the returned function is called. `peerWaitMs`: the end's --timeout, which
 * also ends a wait for the peer while the arbiter is away or silent, so that wait's line names it (it said
 * only "gives up after 30 s" to an end that gave up at its --timeout of 2 s, and nothing of it to one whose
 * arbiter was stopped); no other wait's (a FIFO's writer, the receiver's verdict: the peer is there, no
 * --timeout ends them).
 */
export function watchArbiter(
  client: ChannelClient,
  connection: ConnectOptions,
  progress: ArbiterAwayShown,
  peerWaitMs?: number,
): () => void {
  const where = describeEndpoint(arbiterEndpoint(connection));
  const timeout =
    peerWaitMs === undefined
      ? undefined
      : `when its --timeout ${formatDuration(peerWaitMs)} for the other end runs out`;
  let shown: string | undefined;
  const silence = new ArbiterSilence(client);
  const timer = setInterval(() => {
    const away = awayText(client, silence, where, timeout);
    if (away?.waitingForPeer === shown) return;
    shown = away?.waitingForPeer;
    progress.arbiterAway(away);
  }, WATCH_MS);
  return () => clearInterval(timer);
}

/** `timeout`: when the end's --timeout ends a wait for its peer, if it has one. */
function awayText(
  client: ChannelClient,
  silence: ArbiterSilence,
  where: string,
  timeout: string | undefined,
): ArbiterAway | undefined {
  if (client.lost) return undefined; // the error that ends the wait says it
  if (!client.arbiterLink.greeted) {
    const gone = (limit: string | undefined) =>
      `for the arbiter at ${where} to come back (its connection closed: start \`ivsh host\` again; ` +
      `this end gives up after ${formatDuration(DEFAULT_RECONNECT_TIMEOUT_MS)}${limit === undefined ? "" : `, or ${limit}`}, or Ctrl-C)`;
    return { line: gone(undefined), waitingForPeer: gone(timeout) };
  }
  if (silence.silent()) {
    const silent = (limit: string | undefined) =>
      `for the arbiter at ${where}, which has stopped answering (is it stopped or frozen? resume or restart it` +
      `${limit === undefined ? "" : `; this end gives up ${limit}`}, or Ctrl-C)`;
    return { line: silent(undefined), waitingForPeer: silent(timeout) };
  }
  return undefined;
}
