/**
 * One whole transfer, as `ivsh guest send` / `recv` run it: a file or pipe through a channel, with
 * progress reports, interruption (an AbortSignal ends any wait), and the guarantee that the channel is
 * released however it ends (by the session's expiry, when the arbiter is away at the end). A transfer is
 * this process's whole job, so one that lasts also moves the JIT's compiler threads out of the data path's
 * way (idleCompilerThreads, at its first pause: yieldNow).
 */
import { throwIfAborted } from "../errors.ts";
import { addressOf, idleCompilerThreads } from "../ffi/index.ts";
import { phase } from "../phases.ts";
import type { ChannelClient } from "./channel-client.ts";
import { heldBackNotice } from "./held-back.ts";
import type { Source } from "./io.ts";
import { sendMapped } from "./mapped-file.ts";
import { makesNoCalls } from "./one-at-a-time.ts";
import { abortWhenGone } from "./peer.ts";
import { type PeerWaitTry, type Renew, withPeerWait } from "./peer-wait.ts";
import { type PipedFile, pipeFileWrites } from "./piped-file.ts";
import { ChannelReceiver, type ReceiverOptions } from "./receiver.ts";
import {
  pendingSenderLine,
  type SenderSetupFailure,
  senderFailedLine,
  unjoinedTransfer,
} from "./receiver-ring.ts";
import { releaseEnd } from "./release-end.ts";
import { type ChannelOptions, fitRingToRegion, fitRingToSize } from "./ring-setup.ts";
import { type RingShrink, ringShrink, shrunkRingNote } from "./ring-shrink.ts";
import { ChannelSender, type TransferSummary } from "./sender.ts";
import { letSignalsLand } from "./signals.ts";
import type { Sink } from "./sink.ts";

/** How long a sender goes without a receiver before it says it is waiting for one. */
const NO_RECEIVER_NOTICE_MS = 200;

/** The event loop gets a turn this often during a transfer (heartbeats, signals, progress timers). */
const YIELD_EVERY_MS = 20;

export interface Progress {
  /** Called when the transfer waits: `forPeer` for its peer to show up, the one wait --timeout ends. */
  waiting?(what: string, forPeer?: boolean): void;
  /** Called as bytes move; `total` when the size is known in advance. */
  update?(bytes: number, total: number | undefined): void;
  /** A receiver's: a sender came but could not set up its ring; the receiver waits on for another. */
  senderFailed?(failed: SenderSetupFailure): void;
  /** A line for the user that is neither a wait nor a warning (a sender's ring smaller than asked). */
  notice?(line: string): void;
  /**
   * A sender's: its ring waits for room other clients hold, up to `limitMs` (`what`: where, and why there
   * is none now). It may last that long, so it is told where no progress shows too. Unset: `waiting`.
   */
  roomWait?(what: string, limitMs: number | undefined): void;
}

export interface TransferResult extends TransferSummary {
  seconds: number;
  chunkBytes: number;
  depth: number;
  /** A sender's: the chunk its ring was to have, when the region (or a quota) had room only for smaller ones. */
  ringShrunk?: RingShrink;
  /** What this end's release left held, the arbiter having refused it (a warning: the transfer stands). */
  leftHeld?: string;
}

/** `renew`: a new session for an end whose session expired while nothing had moved (see withPeerWait). */
export async function sendStream(
  client: ChannelClient,
  channel: string,
  source: Source,
  options: ChannelOptions & { peerWaitMs?: number; renew?: Renew },
  progress: Progress = {},
): Promise<TransferResult> {
  const what = { action: `send on channel '${channel}'`, peer: "receiver", unknownUntilTold: true };
  const { renew, peerWaitMs: _peerWaitMs, ...ring } = options; // what the ring's open takes, and only that
  return withPeerWait(
    client,
    options.peerWaitMs,
    options.signal,
    what,
    (attempt) => {
      const onHeldBack = heldBackNotice(what, channel, progress, attempt.peerCheck);
      return sendThrough(channel, source, { ...ring, signal: attempt.signal, onHeldBack }, progress, attempt);
    },
    renew,
  );
}

/**
 * Until the stream flows, says what the sender waits for: a receiver, then, for a FIFO, a program that writes
 * it (no writer yet looks like an idle pipe). First said once the sender has had a moment to find its
 * receiver, so a receiver already waiting is not announced as missing; each said once.
 */
function sayWhatIsAwaited(
  sender: ChannelSender,
  source: Source,
  channel: string,
  progress: Progress,
): ReturnType<typeof setInterval> {
  let said: string | undefined;
  const idle = setInterval(() => {
    let awaited: string | undefined;
    const joined = sender.receiverJoined; // read once: the receiver's process sets it
    if (!joined) awaited = `for a receiver on channel '${channel}'`;
    else if (source.fifo && !source.started) awaited = `for a program to write to ${source.name} (a FIFO)`;
    else clearInterval(idle);
    if (awaited !== undefined && awaited !== said) progress.waiting?.(awaited, !joined);
    said = awaited;
  }, NO_RECEIVER_NOTICE_MS);
  return idle;
}

/**
 * A regular file's ring, unless the caller shaped it: the same 8 MiB as the default ring, in fewer, larger
 * chunks. Each chunk costs the sender a read(2), a digest update and a hand-off on top of its bytes; a
 * 2 GiB file went 10–11% faster in 4 MiB × 2 than in 1 MiB × 8, to /dev/null and to a new file (best of
 * 7 and of 5, interleaved, docs/bench/transfer-path.md). A pipe gains nothing (a read returns what is
 * there, so its chunks are rarely full) and keeps the default, whose depth absorbs a bursty producer.
 */
export const FILE_RING = { chunkBytes: 4 << 20, depth: 2 } as const;

/**
 * The sender's private read buffer: 16 digest pieces, within a core's L2 cache. Reading 1 GiB from the page
 * cache and copying and hashing it into a 4 MiB chunk took the same CPU time (0.15 s) as reading it
 * straight into the chunk and hashing it there; with 256 KiB (four times the calls) it took 0.18 s.
 */
const STAGE_BYTES = 1 << 20;

function ringFor(options: ChannelOptions, source: Source): ChannelOptions {
  if (source.type !== "file" || options.chunkBytes !== undefined || options.depth !== undefined)
    return options;
  return { ...options, ...FILE_RING };
}

async function sendThrough(
  channel: string,
  source: Source,
  options: ChannelOptions,
  progress: Progress,
  { client, peerCheck, redoable, awaiting }: PeerWaitTry,
): Promise<TransferResult> {
  const { signal } = options;
  const fitted = fitRingToSize(ringFor(options, source), source.size);
  const sized = { ...fitRingToRegion(options, fitted, client.geometry), expectedBytes: source.size };
  const onRoomWait = (reason: string, within: string) => {
    const what = `for room in ${within} for the ring: ${reason}`;
    awaiting(`for room in ${within} for the ring (${reason})`);
    if (progress.roomWait) progress.roomWait(what, options.roomWaitMs);
    else progress.waiting?.(what);
  };
  // Stopped past its lease while it set up (waiting for room, up to --timeout), nothing was sent: it starts
  // over in a new session, as one stopped while it waited for a receiver does.
  redoable(() => source.rewind());
  const sender = await ChannelSender.open(client, channel, { onRoomWait, ...sized });
  awaiting(undefined);
  const ringShrunk = ringShrink(sender.ring);
  if (ringShrunk) progress.notice?.(shrunkRingNote(sender.ring, ringShrunk));
  peerCheck(() => sender.receiverJoined);
  // Redone from the start only if no receiver was seen to join, none can have kept the stream unseen, and
  // the input can be read again. Once the end record is out, a receiver that joined while we were stopped
  // (within our lease) may have kept it all without us: sent again, a second receiver would get it too.
  let reached = false;
  redoable(() => {
    reached ||= sender.receiverJoined || sender.receiverArrivedAt !== undefined || sender.endPublished;
    return !reached && source.rewind();
  });
  const idle = sayWhatIsAwaited(sender, source, channel, progress);
  // An idle pipe can keep us reading for ever: meanwhile the receiver is watched from a timer.
  phase("send: channel open");
  const reading = abortWhenGone(sender.receiver, signal);
  let decided = false;
  let result: TransferResult | undefined;
  try {
    const started = performance.now();
    let lastYield = started;
    // Read into private memory (or mapped), then copied into the ring and hashed in one pass: read straight
    // into the ring and hashed there, the digest would cover what any guest wrote into the chunk meanwhile,
    // and the receiver verify a stream that is not the input (test/ring-stomped.test.ts).
    const stage = new Uint8Array(STAGE_BYTES);
    const stageAddress = addressOf(stage);
    const showProgress = async () => {
      // Filling the ring before anyone receives is no progress: the user sees "waiting for a receiver".
      if (sender.receiverJoined) progress.update?.(sender.digest.bytes, source.size);
      lastYield = await yieldNow(lastYield);
    };
    // A regular file goes from a mapping of it as far as it can (./mapped-file.ts); the rest is read below.
    await sendMapped(source, sender, async () => {
      await showProgress(); // where a signal lands
      throwIfAborted(signal, `send on channel '${channel}'`);
    });
    for (;;) {
      throwIfAborted(signal, `send on channel '${channel}'`);
      const sent = await source.read(stageAddress, stage.byteLength, reading.signal);
      if (sent === 0 && source.endMayBeInterruption) await letSignalsLand(signal);
      if (sent === 0) break;
      await sender.write(stage.subarray(0, sent));
      // A pipe's bytes go out as they come (its reads return what is there); a file's fill whole chunks.
      if (source.type !== "file") sender.flush();
      await showProgress();
    }
    // A signal that arrived before the end record is published wins over the EOF it may have caused.
    throwIfAborted(signal, `send on channel '${channel}'`);
    source.checkUnchanged();
    // Of a receiver that is there: before one joins (a small input is in the ring at once), the notice
    // above says that a receiver is what is awaited.
    if (sender.receiverJoined) progress.waiting?.("for the receiver to confirm");
    const summary = await sender.finish();
    decided = true;
    phase("send: verdict");
    // Timed from the receiver's arrival, as the receiver times it: a wait for it is not transfer time.
    const attached = Math.max(started, sender.receiverArrivedAt ?? started);
    result = {
      ...summary,
      seconds: (performance.now() - attached) / 1000,
      chunkBytes: sender.ring.chunkBytes,
      depth: sender.ring.depth,
      ...(ringShrunk && { ringShrunk }),
    };
    return result;
  } finally {
    clearInterval(idle);
    reading.stop();
    const slot = decided ? sender.slot : undefined;
    const left = await releaseEnd(slot, "sender", (letGo) => sender.closeLettingGo(letGo), client, signal);
    if (result && left) result.leftHeld = left;
    phase("send: channel closed");
  }
}

/** Receives one stream into `sink`; a file sink is renamed to its final name before the sender is told. */
export async function receiveStream(
  client: ChannelClient,
  channel: string,
  sink: Sink,
  progress: Progress = {},
  signal?: AbortSignal,
  peerWaitMs?: number,
  renew?: Renew,
): Promise<TransferResult> {
  const what = { action: `receive on channel '${channel}'`, peer: "sender", unknownUntilTold: false };
  return withPeerWait(
    client,
    peerWaitMs,
    signal,
    what,
    (attempt) => {
      // Redone from the start while no transfer was joined: nothing has arrived. Joined, not yet opened
      // (frozen then, a paused VM), its sender streamed to it and failed "the receiver died": not redone
      // (it was, and `guest recv` waited for another sender without end, saying only that it waited).
      let joined = false;
      let opened = false;
      attempt.redoable(() => !joined);
      const onJoined = () => {
        joined = true;
        // The sender is here from the join on: a --timeout passing while the ring opened (a round trip,
        // 8 MiB populated under TCG) ended the transfer begun, saying "no sender showed up". Not known yet
        // until the ring is open: that goes through the arbiter, and one gone or silent at the limit is
        // told then (it was not looked at, and the open waited the 30 s reconnect timeout).
        attempt.peerCheck(() => (opened ? true : undefined));
      };
      const onSenderFailed = (failed: SenderSetupFailure) => {
        attempt.peerFailed(senderFailedLine(failed));
        progress.senderFailed?.(failed);
      };
      return receiveThrough(attempt.client, channel, sink, progress, attempt.signal, {
        onJoined,
        onOpened: () => {
          opened = true;
        },
        onSenderFailed,
        onClaimed: (slot) => {
          attempt.peerPending(() => pendingSenderLine(slot));
          // A transfer published, not yet joined: its sender is there, and the limit waits for our join
          // (this end stopped or starved across it reads the limit before the sender's wake, and gave up
          // "no sender showed up"). A sender that abandons it meanwhile ends the wait at the limit again.
          attempt.peerCheck(() => (unjoinedTransfer(slot) === 0 ? false : undefined));
        },
      });
    },
    renew,
  );
}

async function receiveThrough(
  client: ChannelClient,
  channel: string,
  sink: Sink,
  progress: Progress,
  signal: AbortSignal | undefined,
  told: Required<Pick<ReceiverOptions, "onJoined" | "onSenderFailed" | "onClaimed">> & { onOpened(): void },
): Promise<TransferResult> {
  const onWaiting = () => progress.waiting?.(`for a sender on channel '${channel}'`, true);
  const onSenderFailed = (failed: SenderSetupFailure) => {
    told.onSenderFailed(failed);
    onWaiting(); // still waiting: said again after the notice
  };
  const { onOpened, ...receiverTold } = told;
  const options = { onWaiting, ...receiverTold, onSenderFailed, keeper: sink };
  const receiver = await ChannelReceiver.open(client, channel, signal ? { ...options, signal } : options);
  onOpened();
  // A stalled pipe can keep us writing for ever: meanwhile the sender is watched from a timer.
  const writing = abortWhenGone(receiver.sender, signal);
  let decided = false;
  let result: TransferResult | undefined;
  let piped: PipedFile | undefined;
  try {
    piped = pipeFileWrites(sink);
    // It writes the chunk out and calls nothing on the receiver: no context to run it in (makesNoCalls).
    const consume = makesNoCalls((chunk: Uint8Array, address: number) =>
      sink.write(address, chunk.byteLength, writing.signal).catch(async (error: unknown) => {
        // Ctrl-C on `recv | consumer` kills the consumer too: our own signal, once it lands, is what
        // ended the stream, not the reader that left (EPIPE), as for a sender's producer.
        await letSignalsLand(signal);
        throwIfAborted(signal, `receive on channel '${channel}'`);
        throw error;
      }),
    );
    const started = performance.now();
    let lastYield = started;
    for (;;) {
      throwIfAborted(signal, `receive on channel '${channel}'`);
      const got = await receiver.receive(consume, piped?.bounce);
      if (got === undefined) {
        decided = true;
        break;
      }
      progress.update?.(receiver.digest.bytes, receiver.expectedBytes);
      lastYield = await yieldNow(lastYield);
    }
    const { ring } = receiver;
    result = {
      ...receiver.summary(),
      seconds: (performance.now() - started) / 1000,
      chunkBytes: ring.chunkBytes,
      depth: ring.depth,
    };
    return result;
  } finally {
    writing.stop();
    piped?.close();
    const slot = decided ? receiver.slot : undefined;
    const left = await releaseEnd(
      slot,
      "receiver",
      (letGo) => receiver.closeLettingGo(letGo),
      client,
      signal,
    );
    if (result && left) result.leftHeld = left;
  }
}

/** Whether this process's compiler threads were idled (once: a thread's policy stays). */
let compilerIdled = false;

/**
 * A macrotask turn now and then: awaiting resolved promises alone never lets timers or signals run. The
 * first turn, YIELD_EVERY_MS into a transfer, also idles the JIT's compiler threads: a transfer over
 * before it has none worth idling (the binary's reluctant JIT has started none by then) and skips the walk
 * of /proc/self/task, ~0.3 ms of each end of a 1 KiB send → recv.
 */
async function yieldNow(lastYield: number): Promise<number> {
  const now = performance.now();
  if (now - lastYield < YIELD_EVERY_MS) return lastYield;
  if (!compilerIdled) idleCompilerThreads();
  compilerIdled = true;
  await new Promise<void>((resolve) => setImmediate(resolve));
  return performance.now();
}
