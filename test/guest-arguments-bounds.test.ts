/**
 * The bounds of what src/guest/arguments.ts lets through to the arbiter (mutation round 20): a name of
 * exactly MAX_NAME_BYTES bytes is the arbiter's to take, one byte more is refused here; both mappings a
 * `resource` option may name are taken, anything else is refused.
 */
import { expect, test } from "bun:test";
import { allocRequest, checkConnectOptions, openRequest, syncOpenRequest } from "../src/guest/arguments.ts";
import { MAX_NAME_BYTES } from "../src/protocol/messages.ts";
import { expectFailure } from "./helpers/errors.ts";

test("a name of exactly MAX_NAME_BYTES bytes is sent as it is; one byte more is refused as too long", () => {
  // Two-byte characters too: the bound is in UTF-8 bytes, not in characters.
  for (const longest of ["a".repeat(MAX_NAME_BYTES), `${"é".repeat((MAX_NAME_BYTES - 1) / 2)}a`]) {
    expect(Buffer.byteLength(longest)).toBe(MAX_NAME_BYTES);
    expect(allocRequest(10, { name: longest }).name).toBe(longest);
    expect(openRequest(longest, "read").name).toBe(longest);
    expect(syncOpenRequest(longest, "mutex", true).name).toBe(longest);
    expect(syncOpenRequest(longest, "condvar", false).name).toBe(longest);
  }
  const tooLong = "a".repeat(MAX_NAME_BYTES + 1);
  const refused = new RegExp(`the name is longer than ${MAX_NAME_BYTES} bytes \\(choose a shorter name\\)$`);
  expectFailure(() => allocRequest(10, { name: tooLong }), "InvalidArgument", refused);
  expectFailure(() => openRequest(tooLong, "read"), "InvalidArgument", refused);
  expectFailure(() => syncOpenRequest(tooLong, "mutex", true), "InvalidArgument", refused);
});

test("a resource option of resource2 or resource2_wc is taken; another is refused naming both", () => {
  for (const resource of ["resource2", "resource2_wc"])
    expect(() => checkConnectOptions({ resource })).not.toThrow();
  expectFailure(
    () => checkConnectOptions({ resource: "resource2_WC" }),
    "InvalidArgument",
    /its resource option 'resource2_WC' is not resource2 or resource2_wc/,
  );
});
