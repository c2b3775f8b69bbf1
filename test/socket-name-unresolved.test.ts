/**
 * resolvedPath (src/guest/socket-name.ts) of a path none of whose directories resolve (its top directory
 * missing, or not to be looked in): still compared as the kernel reads it, made absolute, "." segments and
 * repeated slashes dropped, not as it was written. shm_init() compares two spellings of one socket or
 * region with it, so "/gone//a.sock" and "/gone/./a.sock" are the same socket, as they are to connect().
 */
import { expect, test } from "bun:test";
import { existsSync } from "node:fs";
import { resolvedPath } from "../src/guest/socket-name.ts";

const GONE = "/ivsh-mut13-no-such-dir";

test("a path whose directories do not resolve is compared as the kernel reads it, not as written", () => {
  expect(existsSync(GONE)).toBe(false);
  expect(resolvedPath(`${GONE}//a.sock`)).toBe(`${GONE}/a.sock`);
  expect(resolvedPath(`${GONE}/./sub/a.sock`)).toBe(`${GONE}/sub/a.sock`);
  expect(resolvedPath(`/.${GONE}/a.sock`)).toBe(`${GONE}/a.sock`);
});
