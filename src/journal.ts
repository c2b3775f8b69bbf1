/**
 * Whether stderr is systemd's journal, apart from ./log.ts: the CLI's refusal of a platform it cannot run
 * on (./commands/_platform.ts) is written before the system calls, which ./log.ts loads, may load.
 */
import { fstatSync } from "node:fs";

/**
 * Whether stderr is the journal: systemd names the stream it connected in JOURNAL_STREAM (device:inode),
 * which a child whose stderr was redirected still inherits, so the descriptor itself is compared.
 */
export function stderrIsJournal(): boolean {
  const [device, inode] = process.env.JOURNAL_STREAM?.split(":") ?? [];
  if (!device || !inode) return false;
  try {
    const stats = fstatSync(2, { bigint: true });
    return `${stats.dev}` === device && `${stats.ino}` === inode;
  } catch {
    return false;
  }
}
