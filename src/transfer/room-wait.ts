/**
 * A sender's wait for room in a region that other clients fill. A ring whose smallest form fits the
 * region's blocks, but finds no run of them free now (other transfers' rings, other clients' segments
 * hold them), is asked for again as they let go, for up to `roomWaitMs`. Before, twelve `ivsh guest send`
 * started at once on a 16 MiB region had two refused "only 0 of 254 blocks are free; start the arbiter
 * with a larger --size" while the other ten ran: a size that fits each of them, one at a time.
 *
 * A VM's quota (`ivsh host --vm-quota`) is waited on alike: a guest's earlier transfers still holding
 * their rings fill it as other clients fill the region, and a second `guest send` was refused "... of its
 * quota of 64 blocks ...; raise --vm-quota" while the first ran, a quota that fits each of them in turn.
 *
 * A ring that could not fit even the empty region or the whole quota, a client quota's refusal (what the
 * same client holds), and a library caller that set no `roomWaitMs` are refused at once, as before.
 */
import { failure, type IvshError, isIvshError, reasonOf } from "../errors.ts";
import { formatDuration } from "../units.ts";
import { abortable } from "./abortable.ts";
import type { ArbiterLink, ChannelClient } from "./channel-client.ts";
import { Ring } from "./ring.ts";
import { largerFlag } from "./ring-shrink.ts";

/** How long `ivsh guest send` waits for room without --timeout: as long as for an arbiter away. */
export const DEFAULT_ROOM_WAIT_MS = 30_000;

/** The first pause before asking again; each next one doubles, up to the longest. */
const FIRST_PAUSE_MS = 50;
/** At most this between two asks: a ring freed is taken within about a second, at ~1 request a second. */
const LONGEST_PAUSE_MS = 1000;
/**
 * What a status asked as the wait's time runs out gets at least, to be answered: an arbiter merely busy
 * (a thousand clients reconnecting) is not called stopped for missing the wait's last milliseconds.
 */
const LAST_ANSWER_MS = 1000;
/** A status the wait's time ran out on. */
const UNANSWERED = Symbol("unanswered");

/** What a sender's open takes for the wait (ChannelOptions). */
export interface RoomWaitOptions {
  /**
   * How long a ring the region could hold, but whose room other clients hold now, is waited for (ms;
   * Infinity: as long as it takes). Unset or 0: refused at once (NoSpace). An arbiter that stops answering
   * (or goes away) during the wait fails it with ArbiterUnreachable once this time is up (at least 1 s
   * after its last unanswered ask), not after the client's reconnect timeout.
   */
  roomWaitMs?: number;
  /**
   * Called once, as the wait begins, with why there is no room (e.g. "only 0 of 254 blocks are free") and
   * where the room is awaited: "the region", or "the quota of VM 'NAME' (--vm-quota)".
   */
  onRoomWait?: ((reason: string, within: string) => void) | undefined;
  signal?: AbortSignal | undefined;
}

/** `roomWaitMs` checked: a duration, or left out. */
export function checkRoomWait(name: string, roomWaitMs: unknown): void {
  if (roomWaitMs === undefined || (typeof roomWaitMs === "number" && roomWaitMs >= 0)) return;
  throw failure(
    "InvalidArgument",
    `open channel '${name}'`,
    `its roomWaitMs ${String(roomWaitMs)} is not a number of milliseconds from 0 (Infinity: no limit)`,
  );
}

/** The blocks of `blockSize` a ring of `depth` chunks of `chunkBytes` takes. */
export function ringBlocks(depth: number, chunkBytes: number, blockSize: number): number {
  return Math.ceil(Ring.bytesNeeded(depth, chunkBytes) / blockSize);
}

/** Where a refused ring awaits room: how many blocks that holds when empty, and how many are free now. */
export interface Room {
  /** As a wait says it: "the region", "the quota of VM 'web' (--vm-quota)". */
  within: string;
  /** A ring needing more never fits there: it is refused at once. */
  capacity: number;
  /** How that refusal says so, where the arbiter's words do not (a quota's speak of what the VM holds). */
  beyond?: string;
  /** The blocks free there now (a status, which the arbiter does not log as it logs a refused alloc at info). */
  free(): Promise<number>;
}

/**
 * The room `refusal` is about, or undefined if it is not waited for: the region's (NoSpace), or its VM's
 * quota (QuotaExceeded naming --vm-quota), which its VM's other clients fill; free there is the lesser of
 * the quota's rest and the region's free blocks. Not a client's own quota: what fills it is its own.
 */
export async function roomOf(
  client: ChannelClient,
  refusal: IvshError,
  letGo?: AbortSignal,
): Promise<Room | undefined> {
  if (isIvshError(refusal, "NoSpace")) {
    const free = async () => (await client.status(0, 0, letGo)).blocks.free;
    return { within: "the region", capacity: client.geometry.blockCount, free };
  }
  if (!isIvshError(refusal, "QuotaExceeded") || largerFlag(refusal) !== "--vm-quota") return undefined;
  const { requester, limits } = await client.status(0, 0, letGo);
  const quota = limits?.vmQuotaBlocks ?? 0;
  if (quota === 0) return undefined; // an arbiter that does not say its quota: not waited on, as before
  const free = async () => {
    const report = await client.status(0, 0, letGo);
    // An arbiter restarted meanwhile with another --vm-quota (or none): the ring is asked for again and a
    // refusal judged by the quota now. Kept, a larger one left the sender waiting for room it had.
    if ((report.limits?.vmQuotaBlocks ?? 0) !== quota) return Number.POSITIVE_INFINITY;
    return Math.min(report.blocks.free, quota - report.requester.vmBlocksAllocated);
  };
  const beyond = "the ring alone is more than the whole quota: no other transfer's end makes room for it";
  return { within: `the quota of VM '${requester.vm}' (--vm-quota)`, capacity: quota, free, beyond };
}

/**
 * One ring allocation's waits for room: `askAgain` after each refusal of its smallest form. The room is
 * asked how much is free between pauses, not the ring again: each ask an arbiter refuses is a line in its log.
 */
export class RoomWaiter {
  private startedMs: number | undefined;
  private pauseMs = FIRST_PAUSE_MS;
  /** Why the last refusal was not waited on, when the refusal's own words do not say (Room.beyond). */
  private beyond: string | undefined;
  /**
   * Aborted once the wait gives up on a status (unanswered, or the signal): a stopped arbiter's unanswered
   * request kept a library script that caught the error, and forgot close(), alive until it was continued.
   */
  private readonly givenUp = new AbortController();

  /** `link`: told apart, an arbiter gone (its connection closed) is not called stopped. */
  constructor(
    private readonly options: RoomWaitOptions,
    private readonly action: string,
    private readonly link?: ArbiterLink,
  ) {}

  /**
   * After a refusal of the ring's smallest form, which needs `blocks`: pauses until the room the refusal is
   * about (`room`, asked only if there is a wait: see roomOf; its statuses let go of by `letGo` once this
   * gives up on them) has that many blocks free, and returns how
   * many are, to ask again with; undefined when the refusal stands (the wait does not apply, or its time is up).
   */
  async askAgain(
    refusal: IvshError,
    blocks: number,
    room: (letGo: AbortSignal) => Promise<Room | undefined>,
  ): Promise<number | undefined> {
    const limitMs = this.options.roomWaitMs ?? 0;
    if (!(limitMs > 0)) return undefined;
    const reason = reasonOf(refusal).replace(/ \([^()]*\)$/, "");
    // A status that fails (the arbiter away) leaves it to the refusal to stand.
    const asked = room(this.givenUp.signal).catch(() => undefined);
    const askedFor = `while this end asked what room there is for the ring (${reason})`;
    const where = await this.answered(asked, (this.startedMs ?? performance.now()) + limitMs, askedFor);
    if (where !== undefined && blocks > where.capacity) this.beyond = where.beyond;
    if (where === undefined || blocks > where.capacity) return undefined;
    if (this.startedMs === undefined) {
      this.startedMs = performance.now();
      this.options.onRoomWait?.(reason, where.within);
    }
    const waitedFor = `while this end waited for room in ${where.within} for the ring (${reason})`;
    for (;;) {
      const endMs = this.startedMs + limitMs;
      const leftMs = endMs - performance.now();
      if (leftMs <= 0) return undefined;
      await this.abortable(Bun.sleep(Math.min(this.pauseMs, leftMs)));
      this.pauseMs = Math.min(this.pauseMs * 2, LONGEST_PAUSE_MS);
      // A status that fails (the arbiter away) leaves it to the alloc to say why.
      const free = await this.answered(
        where.free().catch(() => Number.POSITIVE_INFINITY),
        endMs,
        waitedFor,
      );
      if (free >= blocks) return free;
    }
  }

  /**
   * A status's answer, awaited until the wait's end (`endMs`; at least LAST_ANSWER_MS) or the signal. One
   * an arbiter stopped (SIGSTOP, a frozen host) never answers waited for the client to give the arbiter up
   * (its reconnect timeout, 30 s), past any roomWaitMs; then the refusal that stood said "only 0 blocks
   * are free", not that nothing had answered.
   */
  private async answered<T>(status: Promise<T>, endMs: number, doing: string): Promise<T> {
    const askedMs = performance.now();
    const boundMs = Math.max(endMs - askedMs, LAST_ANSWER_MS);
    let timer: ReturnType<typeof setTimeout> | undefined;
    const bound = new Promise<typeof UNANSWERED>((resolve) => {
      // Infinity: as long as it takes.
      if (Number.isFinite(boundMs)) timer = setTimeout(() => resolve(UNANSWERED), boundMs);
    });
    let answer: T | typeof UNANSWERED = UNANSWERED;
    try {
      answer = await this.abortable(Promise.race([status, bound]));
      if (answer !== UNANSWERED) return answer;
    } finally {
      clearTimeout(timer);
      if (answer === UNANSWERED) this.givenUp.abort(); // unanswered, or the signal's abort
    }
    const limit = formatDuration(this.options.roomWaitMs ?? 0);
    const why =
      this.link?.greeted === false
        ? "the arbiter went away (connection lost) and did not come back (start `ivsh host` again)"
        : "the arbiter stopped answering (is it stopped or frozen? resume or restart it)";
    throw failure(
      "ArbiterUnreachable",
      this.action,
      `${why} ${doing}: its last status request went unanswered for ` +
        `${formatDuration(performance.now() - askedMs)}, until the ${limit} it waited for room were up`,
    );
  }

  private abortable<T>(promise: Promise<T>): Promise<T> {
    return abortable(promise, this.options.signal, this.action, async () => {});
  }

  /**
   * For the refusal after a wait: how long the room stayed held ("" if it did not wait). Not "by other
   * clients": a library caller may hold it itself, and only `ivsh status` knows whose it is. For one not
   * waited on since the ring could never fit: that, where the refusal does not say it.
   */
  get waited(): string {
    if (this.beyond) return ` (${this.beyond})`;
    const limitMs = this.options.roomWaitMs ?? 0;
    if (this.startedMs === undefined || !Number.isFinite(limitMs)) return "";
    return ` (they stayed held for the ${formatDuration(limitMs)} it waited: \`ivsh status\` lists their holders)`;
  }
}
