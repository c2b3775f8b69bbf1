/**
 * Whether stderr is systemd's journal, apart from ./log.ts: the CLI's refusal of a platform it cannot run
 * on (./commands/_platform.ts) is written before the system calls, which ./log.ts loads, may load.
 */
import { fstatSync } from "node:fs";

/**
 * Whether stderr is the journal: systemd names the stream it connected in JOURNAL_STREAM (device:inode, in
 * decimal), which a child whose stderr was redirected still inherits, so the descriptor itself is compared.
 * Only that exact text counts (as in src/ffi/native/fault.c, which marks a fault's lines by the same test).
 */
export function stderrIsJournal(): boolean {
  const stream = process.env.JOURNAL_STREAM;
  if (!stream) return false;
  try {
    const stats = fstatSync(2, { bigint: true });
    return stream === `${stats.dev}:${stats.ino}`;
  } catch {
    return false;
  }
}
