/**
 * The descriptors of src/ffi/fd-passing.ts itself: a received descriptor is close-on-exec (the arbiter
 * runs helpers, the compaction's, that must not hold a guest's connection open after the arbiter closed
 * it); a bind that fails leaves no socket open; a path too long for sockaddr_un with its NUL is refused.
 */
import { afterAll, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { bindDatagramSocket, receiveWithFd, sendWithFd } from "../src/ffi/fd-passing.ts";
import { closeFd } from "../src/ffi/index.ts";

const dir = mkdtempSync("/tmp/ivsh-fd-passing-descriptors-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const O_CLOEXEC = 0o2000000;
const openFds = () => readdirSync("/proc/self/fd").length;

/** The open flags of this process's `fd`, from /proc/self/fdinfo (octal). */
function flagsOf(fd: number): number {
  const line = readFileSync(`/proc/self/fdinfo/${fd}`, "utf8")
    .split("\n")
    .find((text) => text.startsWith("flags:"));
  return Number.parseInt(line?.split(/\s+/)[1] ?? "", 8);
}

test("a received descriptor is close-on-exec", () => {
  const path = join(dir, "receiver.sock");
  const receiver = bindDatagramSocket(path);
  const sent = openSync("/dev/null", "r");
  try {
    sendWithFd(path, new Uint8Array([1, 2, 3]), sent);
    const received = receiveWithFd(receiver, path);
    expect(received?.fd).toBeDefined();
    expect(flagsOf(received!.fd!) & O_CLOEXEC).toBe(O_CLOEXEC);
    closeFd(received!.fd!);
  } finally {
    closeSync(sent);
    closeFd(receiver);
  }
});

test("a bind refused (the path taken) throws and leaves no socket open", () => {
  const path = join(dir, "taken.sock");
  const first = bindDatagramSocket(path);
  try {
    const before = openFds();
    expect(() => bindDatagramSocket(path)).toThrow("EADDRINUSE");
    expect(openFds()).toBe(before);
  } finally {
    closeFd(first);
  }
});

test("a path of 107 bytes is bound; one of 108, with no room for its NUL, is refused", () => {
  const longest = join(dir, "x".repeat(107 - dir.length - 1));
  expect(longest.length).toBe(107);
  closeFd(bindDatagramSocket(longest));
  const over = `${longest}y`;
  const before = openFds();
  expect(() => bindDatagramSocket(over)).toThrow("ENAMETOOLONG");
  expect(openFds()).toBe(before);
});

test("a send leaves no socket open; an empty payload is refused (EMSGSIZE), nothing sent", () => {
  const path = join(dir, "sends.sock");
  const receiver = bindDatagramSocket(path);
  const sent = openSync("/dev/null", "r");
  try {
    const before = openFds();
    sendWithFd(path, new Uint8Array([1]), sent);
    expect(openFds()).toBe(before);
    expect(() => sendWithFd(path, new Uint8Array(0), sent)).toThrow("EMSGSIZE");
    expect(openFds()).toBe(before);
    const first = receiveWithFd(receiver, path);
    closeFd(first!.fd!);
    expect(receiveWithFd(receiver, path)).toBeUndefined();
  } finally {
    closeSync(sent);
    closeFd(receiver);
  }
});
