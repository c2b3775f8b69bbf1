/**
 * The bytes of a journal write, encoded into one buffer that every write reuses (grown as needed): a Buffer
 * made per write, with the arrays the lines were gathered in, was most of what a journaled request allocated.
 */

/** The largest change encoded into the reused buffer. */
const MAX_REUSED_BYTES = 256 * 1024;

export class JournalBytes {
  private buffer = Buffer.allocUnsafe(4096);

  /**
   * `text` as UTF-8, valid until the next call; a change too large for the reused buffer (a session ending
   * with thousands of grants) gets a buffer of its own, so the reused one stays small.
   */
  encode(text: string): Buffer {
    // UTF-8 takes at most 3 bytes per UTF-16 unit (a surrogate pair's 4 bytes are 2 units).
    if (3 * text.length > this.buffer.byteLength) {
      const needed = Buffer.byteLength(text, "utf8");
      if (needed > MAX_REUSED_BYTES) return Buffer.from(text, "utf8");
      if (needed > this.buffer.byteLength)
        this.buffer = Buffer.allocUnsafe(
          Math.min(MAX_REUSED_BYTES, Math.max(needed, 2 * this.buffer.byteLength)),
        );
    }
    return this.buffer.subarray(0, this.buffer.write(text, 0, "utf8"));
  }
}
