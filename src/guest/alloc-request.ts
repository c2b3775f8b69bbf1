/**
 * What `Client.alloc()` sends, checked first: the library is also called from plain JavaScript, where
 * nothing stops `alloc(undefined)` or `alloc(10, null)`, and those threw a bare TypeError ("undefined is
 * not an object") instead of saying which argument was wrong.
 */
import { failure } from "../errors.ts";
import { type AccessModeName, accessModeOf } from "../protocol/messages.ts";

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
  if (name === "")
    throw failure("InvalidArgument", what, "the name is empty (leave `name` out for an unnamed segment)");
  return {
    bytes: byBytes ? count : 0,
    blocks: byBytes ? 0 : count,
    mode: accessModeOf(mode, what),
    name: name ?? "",
  };
}

function describe(value: unknown): string {
  if (typeof value === "string") return `'${value.slice(0, 40)}'`;
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "(an array)" : "(an object)";
}
