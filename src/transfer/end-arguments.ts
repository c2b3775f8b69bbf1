/**
 * A channel end's arguments, checked as it is opened or called: a caller without types (JavaScript, or a
 * cast) got bare TypeErrors, or had a misspelt option dropped without a word.
 */
import { failure, throwIfAborted } from "../errors.ts";
import { checkName, refuseUnknownKeys } from "../guest/arguments.ts";
import type { ChannelClient } from "./channel-client.ts";

/**
 * A channel end's arguments, checked for a caller without types: a client that is none, options that are
 * not an object, or a callback that is not a function were bare TypeErrors ("null is not an object
 * (evaluating 'client.openSlot')", "consume is not a function").
 */
export function checkEndArguments(
  client: unknown,
  name: unknown,
  options: unknown,
  known: readonly string[],
): void {
  checkName(name, "open a channel");
  const what = `open channel '${name}'`;
  if (typeof (client as ChannelClient | null)?.openSlot !== "function")
    throw failure("InvalidArgument", what, `its client ${String(client)} is not one connect() returned`);
  if (options !== undefined && (typeof options !== "object" || options === null))
    throw failure("InvalidArgument", what, `its options ${String(options)} are not an object`);
  // A misspelt one was dropped: { chunkSize } took the default chunks, a receiver's { timeout } waited on.
  if (options) refuseUnknownKeys(options, known, what);
  // Each was used only when first needed: at a wait (a TypeError), or once the whole stream had arrived.
  const { signal, onWaiting, onHeldBack, onSenderFailed, onRoomWait, keeper } = (options ?? {}) as Record<
    string,
    unknown
  >;
  const bad = (option: string, value: unknown, want: string) =>
    failure("InvalidArgument", what, `its ${option} ${String(value)} is not ${want}`);
  // null is let pass as none, as it was.
  if (signal != null && typeof (signal as AbortSignal | null)?.addEventListener !== "function")
    throw bad("signal", signal, "an AbortSignal");
  if (onWaiting != null && typeof onWaiting !== "function") throw bad("onWaiting", onWaiting, "a function");
  if (onHeldBack != null && typeof onHeldBack !== "function")
    throw bad("onHeldBack", onHeldBack, "a function");
  if (onSenderFailed != null && typeof onSenderFailed !== "function")
    throw bad("onSenderFailed", onSenderFailed, "a function");
  if (onRoomWait != null && typeof onRoomWait !== "function")
    throw bad("onRoomWait", onRoomWait, "a function");
  const { keep, unkeep } = (keeper ?? {}) as { keep?: unknown; unkeep?: unknown };
  if (keeper != null && (typeof keep !== "function" || typeof unkeep !== "function"))
    throw bad("keeper", keeper, "an object with keep() and unkeep()");
  // Aborted before the call: nothing is claimed (a sender went on to take the channel and its ring).
  throwIfAborted(signal as AbortSignal | undefined, what);
}

/** The callback `send()` or `receive()` hands each chunk to. */
export function checkCallback(callback: unknown, call: "send" | "receive", name: string): void {
  if (typeof callback !== "function")
    throw failure(
      "InvalidArgument",
      `${call} on channel '${name}'`,
      `its argument ${String(callback)} is not a function (${call}() hands it each chunk${call === "send" ? "; write() copies bytes you hold" : ""})`,
    );
}

/** What a `send()` filler returned: the bytes it wrote, a whole number within its chunk. */
export function checkFilled(length: unknown, chunkBytes: number, name: string): void {
  if (Number.isInteger(length) && (length as number) >= 0 && (length as number) <= chunkBytes) return;
  throw failure(
    "InvalidArgument",
    `send on channel '${name}'`,
    `the filler returned ${String(length)} for a ${chunkBytes}-byte chunk`,
  );
}

/**
 * What `write()` copies: any view of bytes (a Buffer, a DataView, a typed array) or an ArrayBuffer, seen
 * as bytes. A string or an array has no byteLength: the copy loop ran no round and the call "sent"
 * nothing, silently.
 */
export function bytesToWrite(data: unknown, name: string): Uint8Array {
  // Transferred away (postMessage, structuredClone): a Uint8Array of it was sent as nothing, silently, and
  // other views threw a bare TypeError ("Buffer is already detached").
  const buffer = ArrayBuffer.isView(data) ? data.buffer : data;
  if (buffer instanceof ArrayBuffer && buffer.detached)
    throw failure(
      "InvalidArgument",
      `send on channel '${name}'`,
      "write() was given bytes of a detached ArrayBuffer (transferred, e.g. by postMessage or " +
        "structuredClone), which are gone; write them before transferring the buffer, or write a copy",
    );
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (data instanceof ArrayBuffer || data instanceof SharedArrayBuffer) return new Uint8Array(data);
  const what =
    typeof data === "string"
      ? "a string (encode it first: new TextEncoder().encode(text))"
      : Array.isArray(data)
        ? "an array (make it a Uint8Array first)"
        : typeof data === "object" && data !== null
          ? "an object"
          : String(data);
  throw failure(
    "InvalidArgument",
    `send on channel '${name}'`,
    `write() takes bytes (a Uint8Array), not ${what}`,
  );
}
