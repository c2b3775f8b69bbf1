/**
 * What `Client.alloc()` and `status()` send, checked first: the library is also called from plain
 * JavaScript, where nothing stops `alloc(undefined)` or `alloc(10, null)` (those threw a bare TypeError,
 * "undefined is not an object"), and a number the wire cannot carry was told in the codec's words
 * ("encode field 'blocks' since 4294967296 is outside 0..4294967295") instead of the caller's.
 */
import { failure, shownName } from "../errors.ts";
import { U32_MAX } from "../protocol/codec.ts";
import { type AccessModeName, accessModeOf, MAX_NAME_BYTES, SyncCreate } from "../protocol/messages.ts";
import { SlotKind, type SlotKindName } from "../region/layout.ts";
import { shownNumber } from "../units.ts";

/** How `Client.alloc()` grants the new segment, and under which name others may open it. */
export interface AllocOptions {
  /** "write" (the default), "write-exclusive" (no other writer), or "read". */
  mode?: AccessModeName;
  /**
   * A name makes the segment shareable: other clients `open()` it. Names beginning "channel:" are the
   * rings of `ivsh guest send` / `recv` (and ChannelSender): the arbiter refuses them (InvalidArgument) to a
   * client that is not that channel's sender.
   */
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
  checkKeys(size, ["blocks"], "its size holds", "pass mode and name in the options, the second argument");
  checkKeys(
    options,
    ["mode", "name"],
    "its options hold",
    "the size is the first argument: a number or { blocks }",
  );
  if (typeof size !== "number" && typeof blocks !== "number")
    throw failure(
      "InvalidArgument",
      "allocate a segment",
      `its size ${describe(size)} is neither a number of bytes nor { blocks: count }`,
    );
  const byBytes = typeof size === "number";
  const count = byBytes ? size : (blocks as number);
  const shown = shownNumber(count);
  const what = byBytes ? `allocate ${shown} bytes` : `allocate ${shown} blocks`;
  // Whole and positive, yet past 2^53: the caller asked for too much, not for a fraction.
  if (Number.isInteger(count) && count > Number.MAX_SAFE_INTEGER)
    throw failure(
      "NoSpace",
      what,
      `no region holds that many ${byBytes ? "bytes" : "blocks"} (allocate less)`,
    );
  if (!Number.isSafeInteger(count) || count <= 0)
    throw failure(
      "InvalidArgument",
      what,
      `the ${byBytes ? "size" : "block count"} must be a positive whole number`,
    );
  if (!byBytes && count > U32_MAX)
    throw failure("NoSpace", what, `no region holds more than ${U32_MAX} blocks`);
  if (name === "")
    throw failure("InvalidArgument", what, "the name is empty (leave `name` out for an unnamed segment)");
  if (name !== undefined) checkNameBytes(checkName(name, what), "allocate segment");
  return {
    bytes: byBytes ? count : 0,
    blocks: byBytes ? 0 : count,
    mode: accessModeOf(mode, what),
    name: name ?? "",
  };
}

/**
 * A field alloc() does not read was dropped without a word: `alloc({ blocks: 2, name: "x" })` made an
 * unnamed segment that nobody could open, `alloc(10, { blocks: 3 })` one block, `{ nmae }` no name.
 */
function checkKeys(value: unknown, known: string[], what: string, hint: string): void {
  if (typeof value !== "object" || value === null) return;
  const unknown = Object.keys(value).filter((key) => !known.includes(key));
  if (unknown.length > 0)
    throw failure(
      "InvalidArgument",
      "allocate a segment",
      `${what} ${unknown.map((key) => `'${key.slice(0, 40)}'`).join(", ")}, which it does not take (${known.join(", ")} only: ${hint})`,
    );
}

/**
 * A name for a segment, mutex, condvar or channel, checked for a caller without types: the wire coerced
 * anything to a string, so `open(5)` looked for '5', `condvar({})` made '[object Object]' and
 * `alloc(10, { name: 7 })` shared a segment named '7'. Half a UTF-16 surrogate pair was refused in the
 * codec's words ("encode field 'name'"), not the caller's.
 */
export function checkName(name: unknown, what: string): string {
  if (typeof name !== "string")
    throw failure("InvalidArgument", what, `its name ${describe(name)} is not a string`);
  if (!name.isWellFormed())
    throw failure(
      "InvalidArgument",
      what,
      "its name holds half of a UTF-16 surrogate pair, which UTF-8 cannot carry (mend it with toWellFormed())",
    );
  return name;
}

/**
 * The arbiter refuses a name of more than MAX_NAME_BYTES, but one past the wire's frame limit never
 * reached it: the codec refused it in its own words ("encode op 3 since the frame would be 2000027
 * bytes"). Checked here for every name, as the arbiter words it, with the name cut.
 */
function checkNameBytes(name: string, action: string): string {
  const what = `${action} '${shownName(name)}'`;
  if (Buffer.byteLength(name) > MAX_NAME_BYTES)
    throw failure(
      "InvalidArgument",
      what,
      `the name is longer than ${MAX_NAME_BYTES} bytes (choose a shorter name)`,
    );
  return what;
}

/** The open request's fields: a segment's name and the mode to hold it with. */
export function openRequest(name: unknown, mode: unknown): { name: string; mode: number } {
  const what = checkNameBytes(checkName(name, "open a segment"), "open segment");
  return { name: name as string, mode: accessModeOf(mode as AccessModeName, what) };
}

/** The syncOpen request's fields: a mutex's or condvar's name, its kind, and whether to make it. */
export function syncOpenRequest(
  name: unknown,
  kind: SlotKindName,
  create: boolean,
): { name: string; kind: number; create: number } {
  const what = checkNameBytes(checkName(name, `open a ${kind}`), `open ${kind}`);
  // A caller without types passing "false" or 0 made one when it meant to find one (any value was truthy).
  if (typeof create !== "boolean")
    throw failure(
      "InvalidArgument",
      what,
      `its create flag ${describe(create)} is not true or false (false: only open one that exists)`,
    );
  const mode = create ? SyncCreate.openOrCreate : SyncCreate.openExisting;
  return { name: name as string, kind: SlotKind[kind], create: mode };
}

/** The status request's fields: a list limit and a client id are whole numbers the wire carries. */
export function statusRequest(limit: unknown, onlyClient: unknown): { limit: number; onlyClient: number } {
  for (const [name, value] of [
    ["limit", limit],
    ["onlyClient", onlyClient],
  ] as const)
    if (!Number.isInteger(value) || (value as number) < 0 || (value as number) > U32_MAX)
      throw failure(
        "InvalidArgument",
        "ask the arbiter for its status",
        `its ${name} ${describe(value)} is not a whole number from 0 to ${U32_MAX}`,
      );
  return { limit: limit as number, onlyClient: onlyClient as number };
}

/** What each of connect()'s options must be (ConnectOptions), for a caller without types. */
const OPTION_TYPES: Record<string, "string" | "number" | "boolean" | "AbortSignal"> = {
  socket: "string",
  tcp: "string",
  region: "string",
  sysfsRoot: "string",
  resource: "string",
  name: "string",
  reconnectTimeoutMs: "number",
  connectTimeoutMs: "number",
  signal: "AbortSignal",
  futexParking: "boolean",
};

const TYPE_NAMES = {
  string: "a string",
  number: "a number",
  boolean: "true or false",
  AbortSignal: "an AbortSignal",
};

/**
 * connect()'s options, checked before anything is read from them: `connect(null)`, `{ name: 5 }` or
 * `{ signal: {} }` threw bare TypeErrors from deep inside ("toWellFormed is not a function"), and
 * `{ socket: 5 }` Bun's ERR_INVALID_ARG_TYPE; `{ reconnectTimeoutMs: "100" }` was said to be out of range.
 */
export function checkConnectOptions(options: unknown, action = "connect to the arbiter"): void {
  if (options === undefined) return;
  if (typeof options !== "object" || options === null || Array.isArray(options))
    throw failure("InvalidArgument", action, `its options ${describe(options)} are not an object`);
  for (const [key, type] of Object.entries(OPTION_TYPES)) {
    const value = (options as Record<string, unknown>)[key];
    if (value === undefined) continue;
    const fits = type === "AbortSignal" ? value instanceof AbortSignal : typeof value === type;
    if (!fits)
      throw failure(
        "InvalidArgument",
        action,
        `its ${key} option ${describe(value)} is not ${TYPE_NAMES[type]}`,
      );
  }
  // A misspelt option ({ socketPath }, as other libraries spell it) was dropped: the default arbiter answered.
  refuseUnknownKeys(options, Object.keys(OPTION_TYPES), action);
  // Any other string was taken as "not given": the mapping was chosen by measuring, without a word.
  const { resource } = options as { resource?: string };
  if (resource !== undefined && resource !== "resource2" && resource !== "resource2_wc")
    throw failure(
      "InvalidArgument",
      action,
      `its resource option ${describe(resource)} is not resource2 or resource2_wc (leave it out to use the faster)`,
    );
}

/** Refuses `options` holding a key not among `known`, naming it and listing those taken. */
export function refuseUnknownKeys(options: object, known: readonly string[], action: string): void {
  const unknown = Object.keys(options).filter((key) => !known.includes(key));
  if (unknown.length > 0)
    throw failure(
      "InvalidArgument",
      action,
      `its options hold ${unknown.map((key) => `'${key.slice(0, 40)}'`).join(", ")}, which it does not take (${known.join(", ")} only)`,
    );
}

function describe(value: unknown): string {
  if (typeof value === "string") return `'${value.slice(0, 40)}'`;
  if (typeof value === "number") return shownNumber(value);
  if (value === null || typeof value !== "object") return String(value);
  return Array.isArray(value) ? "(an array)" : "(an object)";
}
