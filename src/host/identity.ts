/**
 * Who this arbiter process is, as the region's header and every hello reply say: its pid, for people, and
 * a random instance number, which tells two arbiters apart where pids cannot (each one pid 1 in its own
 * container, pid namespaces on one host). A client compares the header's with its arbiter's (hello) and
 * refuses a region that another arbiter serves. 48 random bits: two arbiters collide once in 2^48 pairs,
 * and the number stays an exact JavaScript number.
 */
import { randomInt } from "node:crypto";

export const arbiterIdentity = {
  arbiterPid: process.pid,
  arbiterInstance: randomInt(1, 2 ** 48 - 1),
} as const;
