/**
 * The longest --socket the arbiter takes (src/host/listener.ts checkSocketPath): with the suffix of the
 * socket beside it, 107 bytes, what a Unix socket's path may have; one byte more is refused.
 */
import { expect, test } from "bun:test";
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
