/**
 * A sender's wait for room in a region that other clients fill. A ring whose smallest form fits the
 * region's blocks, but finds no run of them free now (other transfers' rings, other clients' segments
 * hold them), is asked for again as they let go, for up to `roomWaitMs`. Before, twelve `ivsh guest send`
 * started at once on a 16 MiB region had two refused "only 0 of 254 blocks are free; start the arbiter
 * with a larger --size" while the other ten ran: a size that fits each of them, one at a time.
 *
 * A ring that could not fit even the empty region, a quota's refusal (what the same client holds), and a
 * library caller that set no `roomWaitMs` are refused at once, as before.
 */
import { failure, type IvshError, isIvshError, reasonOf } from "../errors.ts";
import { formatDuration } from "../units.ts";
import { abortable } from "./abortable.ts";
import { Ring } from "./ring.ts";

/** How long `ivsh guest send` waits for room without --timeout: as long as for an arbiter away. */
export const DEFAULT_ROOM_WAIT_MS = 30_000;

/** The first pause before asking again; each next one doubles, up to the longest. */
const FIRST_PAUSE_MS = 50;
/** At most this between two asks: a ring freed is taken within about a second, at ~1 request a second. */
const LONGEST_PAUSE_MS = 1000;

/** What a sender's open takes for the wait (ChannelOptions). */
export interface RoomWaitOptions {
  /**
   * How long a ring the region could hold, but whose room other clients hold now, is waited for (ms;
   * Infinity: as long as it takes). Unset or 0: refused at once (NoSpace).
   */
  roomWaitMs?: number;
  /** Called once, as the wait begins, with why there is no room (e.g. "only 0 of 254 blocks are free"). */
  onRoomWait?: ((reason: string) => void) | undefined;
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

/**
 * One ring allocation's waits for room: `askAgain` after each refusal of its smallest form. The region is
 * asked how much is free between pauses, not the ring again: each ask an arbiter refuses is a line in its log.
 */
export class RoomWaiter {
  private startedMs: number | undefined;
  private pauseMs = FIRST_PAUSE_MS;

  constructor(
    private readonly options: RoomWaitOptions,
    private readonly action: string,
  ) {}

  /**
   * After a refusal of the ring's smallest form, which needs `blocks`: pauses until the region has that many
   * blocks free (`freeBlocks`: a status, which the arbiter does not log as it logs a refused alloc at info),
   * and returns how many are, to ask again with; undefined when the refusal stands (the wait does not apply,
   * or its time is up).
   */
  async askAgain(
    refusal: IvshError,
    blocks: number,
    region: { blockCount: number },
    freeBlocks: () => Promise<number>,
  ): Promise<number | undefined> {
    const limitMs = this.options.roomWaitMs ?? 0;
    if (blocks > region.blockCount || !isIvshError(refusal, "NoSpace") || !(limitMs > 0)) return undefined;
    if (this.startedMs === undefined) {
      this.startedMs = performance.now();
      this.options.onRoomWait?.(reasonOf(refusal).replace(/ \([^()]*\)$/, ""));
    }
    for (;;) {
      const leftMs = this.startedMs + limitMs - performance.now();
      if (leftMs <= 0) return undefined;
      await this.abortable(Bun.sleep(Math.min(this.pauseMs, leftMs)));
      this.pauseMs = Math.min(this.pauseMs * 2, LONGEST_PAUSE_MS);
      // A status that fails (the arbiter away) leaves it to the alloc to say why.
      const free = await this.abortable(freeBlocks().catch(() => Number.POSITIVE_INFINITY));
      if (free >= blocks) return free;
    }
  }

  private abortable<T>(promise: Promise<T>): Promise<T> {
    return abortable(promise, this.options.signal, this.action, async () => {});
  }

  /**
   * For the refusal after a wait: how long the room stayed held ("" if it did not wait). Not "by other
   * clients": a library caller may hold it itself, and only `ivsh status` knows whose it is.
   */
  get waited(): string {
    const limitMs = this.options.roomWaitMs ?? 0;
    if (this.startedMs === undefined || !Number.isFinite(limitMs)) return "";
    return ` (they stayed held for the ${formatDuration(limitMs)} it waited: \`ivsh status\` lists their holders)`;
  }
}
