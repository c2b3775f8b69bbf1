/**
 * The longest --socket the arbiter takes (src/host/listener.ts checkSocketPath): with the suffix of the
 * socket beside it, 107 bytes, what a Unix socket's path may have; one byte more is refused.
 */
import { expect, test } from "bun:test";
import { absoluteSocketPath } from "../src/guest/socket-name.ts";
import { checkSocketPath } from "../src/host/listener.ts";
import { expectFailure } from "./helpers/errors.ts";

const SUFFIX = ".handover";

function pathOf(bytes: number): string {
  const directory = "/tmp/";
  return directory + "s".repeat(bytes - directory.length - SUFFIX.length);
}

test("a --socket of exactly the longest length is taken; one byte longer is refused", () => {
  expect(() => checkSocketPath(pathOf(107), SUFFIX)).not.toThrow();
  expectFailure(() => checkSocketPath(pathOf(108), SUFFIX), "InvalidArgument", /that path is 108 bytes/);
});

// What an arbiter and a bridge say names their socket absolute, but only where that still fits: a relative
// --socket may fit sun_path where its absolute path does not, and must keep working.
test("a relative --socket is made absolute where that fits with the suffix, else kept as given", () => {
  const cwd = process.cwd();
  expect(absoluteSocketPath("arbiter.sock", SUFFIX)).toBe(`${cwd}/arbiter.sock`);
  const room = 107 - Buffer.byteLength(`${cwd}/${SUFFIX}`);
  expect(absoluteSocketPath("s".repeat(room), SUFFIX)).toBe(`${cwd}/${"s".repeat(room)}`);
  expect(absoluteSocketPath("s".repeat(room + 1), SUFFIX)).toBe("s".repeat(room + 1));
  expect(absoluteSocketPath("/tmp/../tmp/a.sock")).toBe("/tmp/a.sock");
});
