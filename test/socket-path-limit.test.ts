/**
 * The longest --socket the arbiter takes (src/host/listener.ts checkSocketPath): with the suffix of the
 * socket beside it, 107 bytes, what a Unix socket's path may have; one byte more is refused.
 */
import { expect, test } from "bun:test";
import { mkdirSync, symlinkSync } from "node:fs";
import { relative } from "node:path";
import { absoluteSocketPath, resolvedPath } from "../src/guest/socket-name.ts";
import { checkSocketPath } from "../src/host/listener.ts";
import { expectFailure } from "./helpers/errors.ts";
import { testPaths } from "./helpers/paths.ts";

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
  expect(absoluteSocketPath("./arbiter.sock")).toBe(`${cwd}/arbiter.sock`);
  expect(absoluteSocketPath("/tmp//ivsh/./a.sock")).toBe("/tmp/ivsh/a.sock");
  expect(absoluteSocketPath("/tmp/../tmp/a.sock")).toBe("/tmp/a.sock");
});

// Found by a second review: made absolute by path.resolve(), whose ".." is lexical, "link/../a.sock" was
// bound beside link, where the kernel (a client given that same --socket) reads it beside link's target;
// and "a.sock/" (no socket's name) became a.sock.
test("a socket path is made absolute as the kernel reads it: '..' in the real directory, a trailing slash kept", () => {
  const own = testPaths("socket-dotdot");
  try {
    mkdirSync(`${own.dir}/elsewhere/inner`, { recursive: true });
    symlinkSync(`${own.dir}/elsewhere/inner`, `${own.dir}/link`);
    expect(absoluteSocketPath(`${own.dir}/link/../a.sock`)).toBe(`${own.dir}/elsewhere/a.sock`);
    expect(absoluteSocketPath(`${relative(process.cwd(), own.dir)}/link/../a.sock`)).toBe(
      `${own.dir}/elsewhere/a.sock`,
    );
    // Nothing there: the kernel finds nothing either, and the path is kept as written.
    expect(absoluteSocketPath(`${own.dir}/none/../a.sock`)).toBe(`${own.dir}/none/../a.sock`);
    expect(absoluteSocketPath(`${own.dir}/a.sock/`)).toBe(`${own.dir}/a.sock/`);
  } finally {
    own.cleanup();
  }
});

// Found by a second review: shm_init()'s comparison resolved a symlinked directory only while the file
// existed, so the same socket named while the arbiter was stopped (its socket, or its runtime directory,
// removed) was another path than the one its first call had named.
test("a socket or region compared by shm_init() resolves its directory whether or not the file exists", () => {
  const own = testPaths("socket-resolved");
  try {
    mkdirSync(`${own.dir}/real`);
    symlinkSync(`${own.dir}/real`, `${own.dir}/link`);
    expect(resolvedPath(`${own.dir}/link/a.sock`)).toBe(`${own.dir}/real/a.sock`);
    expect(resolvedPath(`${own.dir}/link/gone/a.sock`)).toBe(`${own.dir}/real/gone/a.sock`);
    expect(resolvedPath(`${relative(process.cwd(), own.dir)}/link/a.sock`)).toBe(`${own.dir}/real/a.sock`);
    expect(resolvedPath(`${own.dir}/link/`)).toBe(`${own.dir}/link/`); // no file's name: as written
    expect(resolvedPath("/a.sock")).toBe("/a.sock");
  } finally {
    own.cleanup();
  }
});
