/**
 * What `Client.alloc()` and `status()` send, checked first: the library is also called from plain
 * JavaScript, where nothing stops `alloc(undefined)` or `alloc(10, null)` (those threw a bare TypeError,
 * "undefined is not an object"), and a number the wire cannot carry was told in the codec's words
 * ("encode field 'blocks' since 4294967296 is outside 0..4294967295") instead of the caller's.
 */
import { failure } from "../errors.ts";
import { type AccessModeName, accessModeOf } from "../protocol/messages.ts";

/** The widest count the wire carries (block counts, status limits, client ids). */
const MAX_U32 = 2 ** 32 - 1;

export interface AllocOptions {
  mode?: AccessModeName;
  /** A name makes the segment shareable: other clients `open()` it. */
  name?: string;
}

/** The alloc request's fields, or the error naming the argument that cannot be one. */
export function allocRequest(
  size: unknown,
  options: unknown,
): { bytes: number; blocks: number; mode: number; name: string } {
  if (options !== undefined && (typeof options !== "object" || options === null))
    throw failure(
      "InvalidArgument",
      "allocate a segment",
      `its options ${describe(options)} are not an object (leave them out, or pass { mode, name })`,
    );
  const { mode = "write", name } = (options ?? {}) as AllocOptions;
  const blocks =
    typeof size === "object" && size !== null ? (size as { blocks?: unknown }).blocks : undefined;
  if (typeof size !== "number" && typeof blocks !== "number")
    throw failure(
      "InvalidArgument",
      "allocate a segment",
      `its size ${describe(size)} is neither a number of bytes nor { blocks: count }`,
    );
  const byBytes = typeof size === "number";
  const count = byBytes ? size : (blocks as number);
  const what = byBytes ? `allocate ${count} bytes` : `allocate ${count} blocks`;
  if (!Number.isSafeInteger(count) || count <= 0)
    throw failure(
      "InvalidArgument",
      what,
      `the ${byBytes ? "size" : "block count"} must be a positive whole number`,
    );
  if (!byBytes && count > MAX_U32)
    throw failure("NoSpace", what, `no region holds more than ${MAX_U32} blocks`);
  if (name === "")
    throw failure("InvalidArgument", what, "the name is empty (leave `name` out for an unnamed segment)");
  return {
    bytes: byBytes ? count : 0,
    blocks: byBytes ? 0 : count,
    mode: accessModeOf(mode, what),
    name: name ?? "",
  };
}

/** The status request's fields: a list limit and a client id are whole numbers the wire carries. */
export function statusRequest(limit: unknown, onlyClient: unknown): { limit: number; onlyClient: number } {
  for (const [name, value] of [
    ["limit", limit],
    ["onlyClient", onlyClient],
  ] as const)
    if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > MAX_U32)
      throw failure(
        "InvalidArgument",
        "ask the arbiter for its status",
        `its ${name} ${describe(value)} is not a whole number from 0 to ${MAX_U32}`,
      );
  return { limit: limit as number, onlyClient: onlyClient as number };
}

function describe(value: unknown): string {
  if (typeof value === "string") return `'${value.slice(0, 40)}'`;
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "(an array)" : "(an object)";
}
