/**
 * The sweep's watch on the files clients reach the arbiter by: the region file truncated (the arbiter
 * must stop before it touches the missing part), the region file or the socket removed or replaced (new
 * clients no longer reach this arbiter). What is found is said once in the log and kept for `ivsh status`
 * (`problems`): a monitor polling it was told all was well while only the log said otherwise.
 */
import { failure, type IvshError } from "../errors.ts";
import { log } from "../log.ts";
import type { MappedRegion } from "../region/mapping.ts";

export class RegionWatch {
  private regionGone: string | undefined;
  private socketGone: string | undefined;

  constructor(
    private readonly region: Pick<MappedRegion, "fileSize" | "size" | "stillAt">,
    private readonly path: string,
  ) {}

  /**
   * What the operator must mend, kept while it lasts: a file made again at a path is not the one served,
   * but the one served put back there (a mistaken `mv` undone) is, and then naming it was a false alarm.
   */
  get problems(): string[] {
    return [this.regionGone, this.socketGone].filter((problem) => problem !== undefined);
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
   * the arbiter serving on, silent, while every new client was told no socket exists there. `published`
   * says whether the file at `socketPath` is still the one it listens on.
   */
  noticeSocketGone(socketPath: string, published: () => boolean): void {
    if (published()) {
      if (this.socketGone === undefined) return;
      this.socketGone = undefined;
      log.info(`the socket ${socketPath} is back: new clients can connect again`);
      return;
    }
    if (this.socketGone !== undefined) return;
    this.socketGone =
      `the socket ${socketPath} was removed or replaced while the arbiter ran: clients already connected ` +
      "go on, new ones cannot connect to this arbiter (if it was moved, move it back; else stop the arbiter and " +
      "start it again)";
    log.error(this.socketGone);
  }
}
