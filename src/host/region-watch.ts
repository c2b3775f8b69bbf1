/**
 * The sweep's watch on the region file under a running arbiter: truncated (the arbiter must stop before
 * it touches the missing part) or removed or replaced (new clients no longer reach this region).
 */
import { failure, type IvshError } from "../errors.ts";
import { log } from "../log.ts";
import type { MappedRegion } from "../region/mapping.ts";

export class RegionWatch {
  private goneTold = false;

  constructor(
    private readonly region: Pick<MappedRegion, "fileSize" | "size" | "stillAt">,
    private readonly path: string,
  ) {}

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

  /** Told once: new clients open the path, so a file removed or replaced there no longer leads here. */
  noticeGone(): void {
    if (this.goneTold || this.region.stillAt(this.path)) return;
    this.goneTold = true;
    log.error(
      `the region file ${this.path} was removed or replaced while the arbiter ran: clients ` +
        "already connected go on, new ones cannot reach this region (stop the arbiter and start it again)",
    );
  }
}
