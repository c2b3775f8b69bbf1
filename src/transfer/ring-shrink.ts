/**
 * A default ring that found no room at allocation and was halved (ring-setup.ts allocateRing): what it
 * was to be, and what refused it, so the sender can say why its transfer may be slow and what makes room.
 */
import type { IvshError } from "../errors.ts";
import { formatBytes } from "../units.ts";

/** A ring smaller than asked: the chunk asked for, what had no room for it, and the arbiter's flag for more. */
export interface RingShrink {
  from: number;
  /** "the region", or the quota that refused ("the client's quota"): a larger region gives no more quota. */
  room: string;
  flag: string;
}

/** Each shrunk ring's, beside it rather than on it: a Ring is the shared view both ends map alike. */
const shrinks = new WeakMap<object, RingShrink>();

/** What the arbiter needs more of: the region (NoSpace) or the quota that refused (QuotaExceeded). */
export function largerFlag(error: IvshError): string {
  if (error.code !== "QuotaExceeded") return "--size";
  return error.message.includes("--vm-quota") ? "--vm-quota" : "--client-quota";
}

/** Records that `ring` got smaller chunks than `from`, `refusal` (the last) having had no room for them. */
export function noteShrink(ring: object, from: number, refusal: IvshError): void {
  const flag = largerFlag(refusal);
  const room = { "--size": "the region", "--client-quota": "the client's quota" }[flag] ?? "the VM's quota";
  shrinks.set(ring, { from, room, flag });
}

/** How `ring` was shrunk at allocation; undefined when it got the chunks it asked for. */
export const ringShrink = (ring: object): RingShrink | undefined => shrinks.get(ring);

/** The line a sender whose ring was shrunk shows: its transfer may be much slower, why, and what helps. */
export function shrunkRingNote(ring: { chunkBytes: number; depth: number }, shrink: RingShrink): string {
  return (
    `a ring of ${ring.depth} chunks of ${formatBytes(ring.chunkBytes)}, not ${formatBytes(shrink.from)}: ` +
    `${shrink.room} had no room for more, so this transfer may be slower (starting the arbiter with a ` +
    `larger ${shrink.flag} makes room)`
  );
}
