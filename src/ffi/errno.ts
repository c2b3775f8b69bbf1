import { constants } from "node:os";

/** errno numbers and their names (from Node's table for this platform), so errors say `ENOMEM`, not `12`. */
const names = new Map<number, string>(Object.entries(constants.errno).map(([name, errno]) => [errno, name]));

export const EINTR = 4;
export const EAGAIN = 11;
export const ETIMEDOUT = 110;

export function errnoName(errno: number): string {
  return names.get(errno) ?? `errno ${errno}`;
}
