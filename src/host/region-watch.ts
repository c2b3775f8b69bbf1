/**
 * The sweep's watch on the files clients reach the arbiter by: the region file truncated (the arbiter
 * must stop before it touches the missing part), the region file or the socket removed or replaced (new
 * clients no longer reach this arbiter), the hand-over socket removed or replaced (bridges relay instead).
 * What is found is said once in the log and kept for `ivsh status` (`problems`): a monitor polling it was
 * told all was well while only the log said otherwise.
 */
import { failure, type IvshError } from "../errors.ts";
import { log } from "../log.ts";
import type { MappedRegion } from "../region/mapping.ts";
import { type HandoverInbox, handoverPath } from "./handover.ts";

export class RegionWatch {
  private regionGone: string | undefined;
  private socketGone: string | undefined;
  private handoverGone: string | undefined;
  /** The hand-over socket is gone where bridges relay: said once, no problem. */
  private handoverHarmless = false;

  constructor(
    private readonly region: Pick<MappedRegion, "fileSize" | "size" | "stillAt">,
    private readonly path: string,
  ) {}

  /**
   * What the operator must mend, kept while it lasts: a file made again at a path is not the one served,
   * but the one served put back there (a mistaken `mv` undone) is, and then naming it was a false alarm.
   */
  get problems(): string[] {
    return [this.regionGone, this.socketGone, this.handoverGone].filter((problem) => problem !== undefined);
  }

  /**
   * The error to fail with if the region file is shorter than the mapping (`truncate` while the arbiter
   * ran): then touching the missing part is SIGBUS, which would kill the arbiter with a Bun panic, so the
   * sweep stops before touching anything and the arbiter fails with a message saying what happened. (A
   * request that touches the missing part before the next sweep notices can still fault: the region is the
   * operator's to keep.)
   */
  shrunk(): IvshError | undefined {
    const size = this.region.fileSize();
    if (size >= this.region.size) return undefined;
    const path = this.path;
    return failure(
      "RegionInvalid",
      `serve ${path}`,
      `the region file ${path} was truncated to ${size} bytes (from ${this.region.size}) while the arbiter ran; ` +
        "its contents are lost: remove it and restart the arbiter",
    );
  }

  /**
   * Told once (and once more when it is back): new clients open the path, so a file removed or replaced
   * there no longer leads here.
   */
  noticeGone(): void {
    if (this.region.stillAt(this.path)) {
      if (this.regionGone === undefined) return;
      this.regionGone = undefined;
      log.info(`the region file ${this.path} is back: new clients reach this region again`);
      return;
    }
    if (this.regionGone !== undefined) return;
    this.regionGone =
      `the region file ${this.path} was removed or replaced while the arbiter ran: clients ` +
      "already connected go on, new ones cannot reach this region (if it was moved, move it back; else stop the " +
      "arbiter and start it again, which loses what its clients allocated)";
    log.error(this.regionGone);
  }

  /**
   * Told once (and once more when it is back): a socket file removed (a clean-up of /tmp, an `rm`) left
   * the arbiter serving on, silent, while every new client was told no socket exists there; its hand-over
   * socket removed, every new guest connection's bridge relayed it instead, saying so only on QEMU's
   * stderr. `published` says whether the file at each path is still the one the arbiter bound.
   */
  noticeSocketsGone(
    socketPath: string,
    server: Published,
    inbox: Published & Pick<HandoverInbox, "bridges">,
  ): void {
    this.socketGone = noticeOne(this.socketGone, server, {
      gone:
        `the socket ${socketPath} was removed or replaced while the arbiter ran: clients already connected ` +
        "go on, new ones cannot connect to this arbiter",
      back: `the socket ${socketPath} is back: new clients can connect again`,
    });
    const handover = handoverPath(socketPath);
    const gone = `the hand-over socket ${handover} was removed or replaced while the arbiter ran`;
    const bridges = inbox.bridges;
    if (bridges === "relays" && !inbox.published()) {
      if (!this.handoverHarmless)
        log.info(
          `${gone}: no problem here, as bridges relay guest connections (IVSH_BRIDGE=relay, or an obstacle ` +
            "of their own): they did while it was in place, and none handed one over since the arbiter started",
        );
      this.handoverHarmless = true;
      return;
    }
    this.handoverHarmless = false;
    this.handoverGone = noticeOne(this.handoverGone, inbox, {
      gone:
        `${gone}: guest connections still reach the arbiter, but each new one's bridge relays it for its whole ` +
        "life (a process of ~40 MiB each) instead of handing it over" +
        (bridges === "unknown"
          ? "; no bridge has come since the arbiter started, and where bridges relay by choice (IVSH_BRIDGE=relay) nothing is lost"
          : ""),
      back: `the hand-over socket ${handover} is back: bridges hand guest connections over again`,
    });
  }
}

/** A socket the arbiter bound: whether the file at its path is still that one. */
interface Published {
  published(): boolean;
}

/** The problem kept for one socket after this sweep's look (said once as it starts, once as it ends). */
function noticeOne(
  kept: string | undefined,
  socket: Published,
  words: { gone: string; back: string },
): string | undefined {
  if (socket.published()) {
    if (kept !== undefined) log.info(words.back);
    return undefined;
  }
  if (kept !== undefined) return kept;
  const problem = `${words.gone} (if it was moved, move it back; else stop the arbiter and start it again)`;
  log.error(problem);
  return problem;
}
