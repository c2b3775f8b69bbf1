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

/**
 * What a client that asks to open a segment it holds already is told: a grant's mode does not change, so
 * asking more needs the grant given back first; but the last holder's free() deletes the segment, data
 * and all, and "free it and open it again" then found no segment by that name. A reader elsewhere keeps
 * it (and bars no mode, where a writer would bar write-exclusive).
 */
export function heldAlready(held: AccessModeName, requested: AccessModeName, alone: boolean): string {
  if (modeCovers(held, requested))
    return "this client already holds it (use the Segment its alloc() or open() returned, or open it with another client: connect() again)";
  if (alone)
    return `this client already holds it ${held}, and alone (a grant's mode does not change, and free() would delete it, its last holder's: open it read with another client, connect() again, to keep it, then free() this one and open it again ${requested})`;
  return `this client already holds it ${held} (a grant's mode does not change: free() that Segment and open it again ${requested}, if no other holder bars it by then, or open it with another client: connect() again)`;
}
