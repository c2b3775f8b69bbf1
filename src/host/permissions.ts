/**
 * The report's access modes. Any number of readers; writers share a segment with each other; a
 * write-exclusive holder bars every other writer (but not readers), and cannot be granted while anyone
 * else holds write access.
 */
import type { AccessModeName } from "../protocol/messages.ts";

/** Why `requested` cannot be granted next to `held` (the other holders' modes), or undefined if it can. */
export function modeConflict(requested: AccessModeName, held: Iterable<AccessModeName>): string | undefined {
  for (const mode of held) {
    if (requested === "write" && mode === "write-exclusive")
      return "another client holds it write-exclusive (open it read, or wait until that client frees it)";
    if (requested === "write-exclusive" && mode !== "read")
      return `another client holds it ${mode} (write-exclusive needs every other holder to be a reader)`;
  }
  return undefined;
}

const STRENGTH: Record<AccessModeName, number> = { read: 0, write: 1, "write-exclusive": 2 };

/** Whether a grant held `held` already allows what `requested` would (write-exclusive covers them all). */
export function modeCovers(held: AccessModeName, requested: AccessModeName): boolean {
  return STRENGTH[held] >= STRENGTH[requested];
}
