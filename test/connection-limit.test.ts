/**
 * The arbiter's connection limit (src/host/connection-limit.ts) at its exact bounds, with the open-file
 * limit and the sockets injected: up to `limit − RESERVED` connections are served, the next ones are
 * answered with the reason and closed, and past `limit − HARD_RESERVED` one is closed unanswered.
 * (host-descriptors.test.ts checks the same against a real arbiter under a lowered ulimit.)
 */
import { expect, test } from "bun:test";
import type { Socket } from "bun";
import type { Connection } from "../src/host/connection.ts";
import { ConnectionLimit, openFileLimitWarning, RESERVED_DESCRIPTORS } from "../src/host/connection-limit.ts";

const LIMIT = 100;
const HARD_RESERVED = 16;

/** A socket that records how it was turned away: "answered" (failAndClose) or "terminated". */
function fakeSocket() {
  const fate: string[] = [];
  const socket = {
    data: { failAndClose: () => fate.push("answered") },
    terminate: () => fate.push("terminated"),
  } as unknown as Socket<Connection>;
  return { socket, fate };
}

function openMany(limit: ConnectionLimit, count: number) {
  return Array.from({ length: count }, () => {
    const made = fakeSocket();
    return { ...made, letIn: limit.letIn(made.socket) };
  });
}

test("exactly limit − RESERVED connections are let in; the next is answered with the reason", () => {
  const limit = new ConnectionLimit(
    () => 0,
    () => LIMIT,
  );
  const served = openMany(limit, LIMIT - RESERVED_DESCRIPTORS);
  expect(served.every((entry) => entry.letIn && entry.fate.length === 0)).toBe(true);
  const [next] = openMany(limit, 1);
  expect(next!.letIn).toBe(false);
  expect(next!.fate).toEqual(["answered"]);
});

test("past limit − HARD_RESERVED a connection is closed unanswered; up to it, answered", () => {
  const limit = new ConnectionLimit(
    () => 0,
    () => LIMIT,
  );
  openMany(limit, LIMIT - RESERVED_DESCRIPTORS);
  const refused = openMany(limit, RESERVED_DESCRIPTORS - HARD_RESERVED);
  expect(refused.map((entry) => entry.fate)).toEqual(refused.map(() => ["answered"]));
  const [past] = openMany(limit, 1);
  expect(past!.letIn).toBe(false);
  expect(past!.fate).toEqual(["terminated"]);
});

test("hasRoom holds a descriptor back only while one more still fits under limit − RESERVED", () => {
  let waiting = 0;
  const limit = new ConnectionLimit(
    () => waiting,
    () => LIMIT,
  );
  waiting = LIMIT - RESERVED_DESCRIPTORS - 1;
  expect(limit.hasRoom()).toBe(true);
  waiting = LIMIT - RESERVED_DESCRIPTORS;
  expect(limit.hasRoom()).toBe(false);
  const { socket } = fakeSocket();
  waiting = LIMIT - RESERVED_DESCRIPTORS - 1;
  expect(limit.letIn(socket)).toBe(true);
  expect(limit.hasRoom()).toBe(false);
  limit.left(socket);
  expect(limit.hasRoom()).toBe(true);
});

test("joinVm counts each VM's connections against --vm-connections, a connection per session kept over a restart, a resume always", () => {
  let sessions = 0;
  const limit = new ConnectionLimit(
    () => 0,
    () => LIMIT,
    { limit: () => 2, sessions: () => sessions },
  );
  const ofVm = (vm: string) => ({ data: { vm } }) as unknown as Socket<Connection>;
  const [first, second, third] = [ofVm("a"), ofVm("a"), ofVm("a")];
  expect(limit.joinVm(first!)).toBeUndefined();
  expect(limit.joinVm(second!)).toBeUndefined();
  expect(limit.joinVm(first!)).toBeUndefined(); // counted once
  expect(limit.joinVm(third!)?.message).toMatch(
    /VM 'a' already has 2 connections open, its --vm-connections limit of 2/,
  );
  expect(limit.joinVm(ofVm("b"))).toBeUndefined(); // another VM is not held back
  expect(limit.joinVm(third!, true)).toBeUndefined(); // a resume
  expect(limit.vmConnections("a")).toBe(3);
  limit.left(third!);
  sessions = 3; // kept over a restart: each may have its connection
  expect(limit.joinVm(third!)).toBeUndefined();
  expect(limit.joinVm(ofVm("a"))?.code).toBe("QuotaExceeded");
  limit.left(first!);
  expect(limit.vmConnections("a")).toBe(2);
  expect(limit.newSessionRefusal("a", () => 1)).toBeUndefined();
  expect(limit.newSessionRefusal("a", () => 2)?.code).toBe("QuotaExceeded");
  const unlimited = new ConnectionLimit();
  expect(
    unlimited.newSessionRefusal("a", () => {
      throw new Error("walked the sessions with no limit set");
    }),
  ).toBeUndefined();
});

// Warned of only where the hard limit is that low too (Bun raises the soft limit to the hard one as it
// starts): another user's `prlimit --pid N --nofile=1024` is refused (EPERM, raising a hard limit needs
// CAP_SYS_RESOURCE), as it was for `nobody` here.
test("a limit that leaves room for no connection: raising it now is said to need root", () => {
  const warning = openFileLimitWarning(RESERVED_DESCRIPTORS, 0);
  expect(warning).toContain(`as root, prlimit --pid ${process.pid} --nofile=1024`);
});
