/**
 * A connect that failed for want of a descriptor, not for want of an arbiter. Bun reports a socket(2)
 * that failed with EMFILE as ECONNREFUSED, which read "nothing listens on it: start `ivsh host`" while
 * the arbiter served: a socket of our own, made the same way, gets the kernel's errno.
 */
import { probeStreamSocket } from "../ffi/fd-passing.ts";
import { errnoOf, outOfDescriptors } from "../ffi/index.ts";

/** Why no socket could be made to reach the arbiter (EMFILE, ENFILE), in words; undefined if one could. */
export function noSocketMade(
  unixPath: string | undefined,
  code: string,
): { why: string; hint: string } | undefined {
  let errno = code;
  if (unixPath !== undefined && code === "ECONNREFUSED")
    try {
      probeStreamSocket(unixPath);
    } catch (error) {
      errno = errnoOf(error);
    }
  const exhausted = outOfDescriptors(errno);
  return exhausted && { why: `no socket could be made: ${exhausted.why}`, hint: exhausted.hint };
}
