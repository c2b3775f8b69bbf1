/**
 * A channel's slot (src/region/layout.ts, "Channel slot"): named, atomic accessors for its words, and
 * taking and giving up a role on it. Slot words are shared with another process, possibly in another VM:
 * every access is an Atomics operation.
 */
import { failure, hasTrait, type IvshError, isIvshError, shownName } from "../errors.ts";
import { SystemCallError } from "../ffi/index.ts";
import { checkName } from "../guest/arguments.ts";
import { MAX_NAME_BYTES } from "../protocol/messages.ts";
import {
  ChannelWord,
  channelSlotName,
  LOCK_OWNER_DIED,
  LOCK_OWNER_MASK,
  ringSegmentName,
  slotWordIndex,
} from "../region/layout.ts";
import { fullFileSystem } from "../region/region-file.ts";
import { abortable } from "./abortable.ts";
import type { ChannelClient } from "./channel-client.ts";
import { closeOrKeep } from "./refused-frees.ts";

export type ChannelWordName = keyof typeof ChannelWord;

/**
 * How long a channel end waits for the arbiter's view (is our session, or the peer's, still there?) before
 * it tells what it saw itself: an arbiter down or restarting must not hold a failure for a reconnect.
 */
export const ARBITER_VIEW_WAIT_MS = 2000;

export class ChannelSlot {
  private readonly base: number;

  constructor(
    readonly client: ChannelClient,
    readonly slot: number,
    /** The channel's name, for messages. */
    readonly channel: string,
  ) {
    this.base = slotWordIndex(client.geometry, slot, 0);
  }

  index(word: ChannelWordName): number {
    return this.base + ChannelWord[word];
  }

  /** The slot words; refused once the client is closed, for its region is no longer mapped (a touch faults). */
  get words(): Int32Array {
    if (this.client.isClosed)
      throw failure(
        "ConnectionLost",
        `use channel '${this.channel}'`,
        "its client was closed (connect() again)",
      );
    return this.client.words;
  }

  load(word: ChannelWordName): number {
    return Atomics.load(this.words, this.index(word));
  }

  store(word: ChannelWordName, value: number): void {
    Atomics.store(this.words, this.index(word), value);
  }

  /** Stores `value` if the word holds `expected`; returns what it held (the swap happened if that is `expected`). */
  compareExchange(word: ChannelWordName, expected: number, value: number): number {
    return Atomics.compareExchange(this.words, this.index(word), expected, value);
  }

  /** The client id holding a lock word, and whether its previous holder died. */
  holder(word: "sender" | "receiver"): { owner: number; died: boolean } {
    const value = this.load(word);
    return { owner: value & LOCK_OWNER_MASK, died: (value & LOCK_OWNER_DIED) !== 0 };
  }

  /**
   * Before writing the slot or the ring again: if this process may have been frozen past its lease, the
   * arbiter may have handed both to someone else; ask it first (throws LeaseExpired if so). `signal` ends
   * the wait as `action`'s interruption: with the arbiter stopped too (a frozen host) nobody answers, and
   * Ctrl-C went unheeded until the client gave up on it, the 30 s reconnect timeout later.
   */
  async confirmLive(signal?: AbortSignal, action?: string): Promise<void> {
    this.throwIfLost();
    if (!this.client.leaseInDoubt()) return;
    // Let go of with the abort that ends the wait for it (Client.status).
    const asked = this.client.confirmLeaseLettingGo(signal);
    await (signal && action ? abortable(asked, signal, action, async () => {}) : asked);
  }

  /**
   * A session lost for good has its ring withdrawn from this process (the arbiter may give the blocks
   * away): say so before touching it, rather than fault or get EFAULT from a system call.
   */
  throwIfLost(): void {
    if (this.client.lost) throw this.client.lost;
  }

  /**
   * The ring is withdrawn from this process when the session is lost for good, and at once when its
   * client's close() begins (its goodbye not yet answered, so not lost yet): touching it then would fault.
   */
  throwIfWithdrawn(doing: "send" | "receive" | "wait"): void {
    this.throwIfLost();
    if (this.client.isClosing)
      throw failure(
        "ConnectionLost",
        `${doing} on channel '${this.channel}'`,
        "its client was closed (connect() again)",
      );
  }

  /**
   * What a failed read(2) into or write(2) from a chunk means: the session's loss if it was lost (the
   * ring was withdrawn); EFAULT otherwise says the pages behind the ring are gone, which a region file
   * truncated while in use does (the arbiter's log says the same); else the error itself.
   */
  chunkFailure(error: unknown, action: string): unknown {
    if (this.client.lost) return this.client.lost;
    if (!(error instanceof SystemCallError && error.errnoName === "EFAULT")) return error;
    // A region file whole on a file system filled since has holes no page can be given to.
    const full = this.client.region && fullFileSystem(this.client.region.source, this.client.region.size);
    return failure(
      "RegionInvalid",
      action,
      full
        ? `the shared region's pages behind the ring cannot be made (EFAULT): ${full}`
        : "the shared region's pages behind the ring are gone (EFAULT): its file was truncated while in use; restart the arbiter on an intact region",
    );
  }

  /**
   * Whether the slot is still ours to write: not after our session was lost, or a freeze past the lease.
   * `letGo`: see Client.status.
   */
  async stillLive(letGo?: AbortSignal): Promise<boolean> {
    if (this.client.lost) return false;
    if (!this.client.leaseInDoubt()) return true;
    return await this.client.confirmLeaseLettingGo(letGo).then(
      () => true,
      () => false,
    );
  }

  /**
   * Why our session is gone, if it is: asked of the arbiter even when the lease seems kept, for a process
   * frozen past it may not have noticed yet, and then finds the slot reused by others (which is no
   * corruption of the region). An arbiter that cannot be asked in time tells nothing (undefined).
   */
  async sessionLost(): Promise<IvshError | undefined> {
    if (this.client.lost) return this.client.lost;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // Let go of once not waited for (finally): unanswered (a stopped arbiter), it kept a script that caught
    // the end's error, and forgot close(), alive.
    const givenUp = new AbortController();
    const unanswered = new Promise<undefined>((resolve) => {
      timer = setTimeout(() => resolve(undefined), ARBITER_VIEW_WAIT_MS);
    });
    const asked = this.client.confirmLeaseLettingGo(givenUp.signal).then(
      () => undefined,
      (error: unknown) => (hasTrait(error, "endsSession") ? (error as IvshError) : undefined),
    );
    try {
      return await Promise.race([asked, unanswered]);
    } finally {
      clearTimeout(timer);
      givenUp.abort();
    }
  }

  /**
   * `error`, unless it is a RegionCorrupted that our own lost session explains: a channel end frozen past
   * its lease finds its slot and ring reused by others (its grants went to them), which is no corruption.
   * (A peer that seems gone is judged the same way, in Peer.goneError.)
   */
  async unlessSessionLost(error: unknown): Promise<unknown> {
    if (!isIvshError(error, "RegionCorrupted")) return error;
    return (await this.sessionLost()) ?? error;
  }

  wake(word: ChannelWordName, count = 1): void {
    this.client.wakeWord(this.slot, ChannelWord[word], count);
  }

  /** Takes a role's lock word if free (or left by a dead holder); undefined if a live client holds it. */
  tryTake(word: "sender" | "receiver"): "acquired" | "owner-died" | undefined {
    const index = this.index(word);
    const seen = Atomics.load(this.words, index);
    if ((seen & LOCK_OWNER_MASK) !== 0) return undefined;
    if (Atomics.compareExchange(this.words, index, seen, this.client.clientId) !== seen) return undefined;
    return seen & LOCK_OWNER_DIED ? "owner-died" : "acquired";
  }

  /** Gives the role up, if this client still holds it (a closed client's goodbye gave it up). */
  release(word: "sender" | "receiver"): void {
    if (this.client.isClosed) return;
    Atomics.compareExchange(this.words, this.index(word), this.client.clientId, 0);
  }
}

/**
 * Opens (or creates) the channel's slot and takes `role` for this client; a role a live client holds is
 * "channel busy". Returns the slot and whether the role's previous holder died holding it.
 */
export async function claimRole(
  client: ChannelClient,
  name: string,
  role: "sender" | "receiver",
  signal?: AbortSignal,
): Promise<ChannelSlot> {
  const [verb, doing] = role === "sender" ? ["send", "sending"] : ["receive", "receiving"];
  checkChannelName(name, verb);
  // Let go of once the signal ends the wait for it (so is the undo): unanswered (a stopped arbiter), it
  // kept a script that caught the end's error, and forgot close(), alive.
  const opening = client.openSlot(channelSlotName(name), "channel", true, signal);
  // Answered after an abort, and its close refused by a full journal: kept to try again (refused-frees.ts),
  // not dropped with the slot held until the client closed.
  const { slot: index } = await abortable(opening, signal, `${verb} on channel '${name}'`, ({ slot }) =>
    closeOrKeep(client, slot, signal),
  ).catch((error: unknown) => {
    // The arbiter names the slot ('channel:NAME'), or for a full journal only the journal; the user named
    // the channel.
    if (!isIvshError(error, "NoSpace") && !isIvshError(error, "JournalFull")) throw error;
    throw failure(
      error.code,
      `${verb} on channel '${name}'`,
      error.message.replace(/^Failed to .*? since /, ""),
    );
  });
  const slot = new ChannelSlot(client, index, name);
  if (slot.tryTake(role)) return await unlessOtherEnd(slot, role, verb);
  // Read before our hold goes: the last hold's close clears the slot.
  const { owner } = slot.holder(role);
  await whileFailing(closeOrKeep(client, index));
  const who = owner === client.clientId ? "this client" : `client ${owner}`;
  throw failure(
    "ChannelBusy",
    `${verb} on channel '${name}'`,
    `the channel is busy: ${who} is ${doing} on it (wait until it is done, or use another channel)`,
  );
}

/**
 * The slot, unless this client holds the channel's other end too: one client cannot hold the ring as both
 * (the receiver's open of it was refused naming the segment 'channel:NAME:1', and the sender then blamed
 * its receiver, itself, for going away).
 */
async function unlessOtherEnd(slot: ChannelSlot, role: "sender" | "receiver", verb: string) {
  const other = role === "sender" ? "receiver" : "sender";
  if (slot.holder(other).owner !== slot.client.clientId) return slot;
  slot.release(role);
  await ignoreLost(slot.client.closeSlot(slot.slot)); // not this client's last handle: no request to refuse
  throw failure(
    "InvalidArgument",
    `${verb} on channel '${slot.channel}'`,
    `this client is its ${other} already: each end of a channel needs a client of its own (connect() again for it)`,
  );
}

/** The longest channel name whose ring segments' names (`channel:NAME:TRANSFER`) the arbiter accepts. */
export const MAX_CHANNEL_NAME_BYTES = MAX_NAME_BYTES - ringSegmentName("", 2 ** 31 - 1).length;

/** Checked here, for the arbiter would name its slot ('channel:NAME') in a refusal, and take "" as a name. */
function checkChannelName(name: string, verb: string): void {
  const bytes = Buffer.byteLength(checkName(name, `${verb} on a channel`));
  if (bytes >= 1 && bytes <= MAX_CHANNEL_NAME_BYTES) return;
  const what = bytes === 0 ? "it is empty" : `it is ${bytes} bytes`;
  throw failure(
    "InvalidArgument",
    `${verb} on channel '${shownName(name)}'`,
    `${what}: a channel name is 1 to ${MAX_CHANNEL_NAME_BYTES} bytes`,
  );
}

/**
 * Gives up `role` and the slot after a failed start (a transfer's end is `releaseRingAndRole`): the role's
 * word at once, the slot's handle by a request (one a full journal refused kept for a retry: closeOrKeep).
 * After an interrupt, or `unanswered` (ArbiterUnreachable), it is not awaited, nor keeps the process alive:
 * a stopped arbiter kept Ctrl-C from ending the command, a library open that gave up by its roomWaitMs
 * waiting for the reconnect timeout, and a script that caught that error (without close()) alive. The
 * goodbye that follows gives the handle back as surely.
 */
export async function releaseRole(
  slot: ChannelSlot,
  role: "sender" | "receiver",
  signal?: AbortSignal,
  unanswered = false,
): Promise<void> {
  slot.release(role);
  const letGo = signal?.aborted || unanswered ? AbortSignal.abort() : undefined;
  const closing = closeOrKeep(slot.client, slot.slot, letGo);
  if (letGo) closing.catch(() => {});
  else await closing;
}

/** `releaseRole` after an open failed with `cause`, for the caller to throw it (see `whileFailing`). */
export const releaseAfterFailure = (
  slot: ChannelSlot,
  role: "sender" | "receiver",
  signal: AbortSignal | undefined,
  cause: unknown,
) => whileFailing(releaseRole(slot, role, signal, isIvshError(cause, "ArbiterUnreachable")));

/**
 * Awaits a release step taken because something failed, for the caller to throw that failure: the step's
 * own error (the arbiter's full journal refusing the close or free, as it may have refused what failed, or
 * the failure's cause itself) replaced it, so the user was told the raw refusal of a cleanup, not what
 * failed (a busy channel, a sender gone, an overwritten ring, an interrupt). A hold a full journal kept
 * (closeOrKeep) is given back at the client's next send or receive, or goes with its session.
 */
export async function whileFailing(step: Promise<unknown>): Promise<void> {
  await step.catch(() => {});
}

/** Awaits a release step, ignoring that the arbiter already dropped this client (nothing left to release). */
export async function ignoreLost(promise: Promise<unknown>): Promise<void> {
  try {
    await promise;
  } catch (error) {
    if (!hasTrait(error, "harmlessOnRelease")) throw error;
  }
}

/** What a channel end says once its own close() began: its ring is freed, nothing may touch it. */
export function closedEnd(role: "sender" | "receiver", channel: string) {
  const [verb, open] = role === "sender" ? ["send", "ChannelSender"] : ["receive", "ChannelReceiver"];
  return failure(
    "NotHeld",
    `${verb} on channel '${channel}'`,
    `this ${role} was closed (open a new ${open} to ${verb} again)`,
  );
}
