/**
 * Whether the other end of the report's loops (report-loops.ts) is still there, through the shm_* API
 * alone and without a change to the one-flag-byte protocol. The flag byte says nothing of a peer that left
 * while we wait for it (killed or Ctrl-C'd not holding the area's lock, or done because it was given
 * another byte count), so each end also holds a cv's lock of its own ("fig1.<area id>.writer", ".reader")
 * for its whole run and never lets it go: its exit, however it comes, marks that lock owner-died. Named
 * after the area (segment ids are not reused), they are no other run's, nor is a verdict left in them.
 * The other end takes the lock in the background: told "owner-died", the peer is gone, and its own wait on
 * the area is woken to say so. Told "acquired", nobody held it (the peer has not come yet, or runs an ivsh
 * without this): it lets go at once and looks again a little later; a peer that comes meanwhile waits
 * that long at most for its own.
 */
import { failure, throwIfAborted } from "../errors.ts";
import * as shm from "./shm.ts";

/** How long a look that found the peer's lock free waits before the next. */
const LOOK_AGAIN_MS = 200;

export class PeerWatch {
  private gone = false;
  private stopped = false;
  /** The run's signal and what it does (guard), for `throwIfInterrupted`. */
  private signal: AbortSignal | undefined;
  private action = "";

  private constructor(
    private readonly cvid: number,
    private readonly uid: number,
    private readonly peerCv: number,
  ) {}

  /** Takes this end's own lock (for good) and starts watching the peer's; `cvid` is the area's cv. */
  static async start(
    cvid: number,
    uid: number,
    area: number,
    self: string,
    peer: string,
  ): Promise<PeerWatch> {
    const mine = await shm.shm_create_cv(`fig1.${area}.${self}`);
    await shm.shm_acquire_cv(mine, uid);
    const watch = new PeerWatch(cvid, uid, await shm.shm_create_cv(`fig1.${area}.${peer}`));
    void watch.watch();
    return watch;
  }

  /** Called before each wait for the peer (none in between): PeerGone once it left, `reason` saying how far. */
  throwIfGone(action: string, reason: () => string): void {
    if (this.gone) throw failure("PeerGone", action, reason());
  }

  /**
   * Called as the loop resumes from each wait, before it touches the area or the file: the abort that
   * ended the run (guard) may have come while it waited, and the file may be closed, or removed, since.
   */
  throwIfInterrupted(): void {
    throwIfAborted(this.signal, this.action);
  }

  /** The run is over: a look under way ends with the session (shm_finish). */
  stop(): void {
    this.stopped = true;
  }

  /**
   * Runs the loop; if it fails, ends the session, as the process's exit would, before passing the error
   * on. A look under way keeps the process alive (a parked acquire, a timer), so the CLI, which lets the
   * process end once nothing is pending, never exited, and its peer, never told, waited for ever too.
   */
  async guard<T>(loop: () => Promise<T>, signal?: AbortSignal, action = ""): Promise<T> {
    this.signal = signal;
    this.action = action;
    // The loop's waits (a lock, a cv) take no signal: its abort ends the run here, and the session's end
    // below ends the waits (the loop, resumed, stops: throwIfInterrupted).
    const interrupted = Promise.withResolvers<never>();
    const onAbort = () => interrupted.reject(new Error("interrupted"));
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    const running = loop();
    try {
      return await Promise.race([running, interrupted.promise]);
    } catch (error) {
      this.stopped = true;
      running.catch(() => {}); // ended by the session's end, once interrupted
      await shm.shm_finish();
      if (signal?.aborted) throwIfAborted(signal, action);
      throw error;
    } finally {
      signal?.removeEventListener("abort", onAbort);
    }
  }

  private async watch(): Promise<void> {
    try {
      while (!this.stopped) {
        if ((await shm.shm_acquire_cv(this.peerCv, this.uid)) === "owner-died") {
          this.gone = true;
          if (!this.stopped) shm.shm_notify_cv(this.cvid, this.uid); // ends our wait on the area
          return;
        }
        shm.shm_release_cv(this.peerCv, this.uid);
        await Bun.sleep(LOOK_AGAIN_MS);
      }
    } catch {
      // The session ended under the look (shm_finish(), or lost: the loop says that itself).
    }
  }
}
