/**
 * ConnectionLimit's per-VM counts (--vm-connections, src/host/connection-limit.ts) past what
 * connection-limit.test.ts checks, in-process with fake sockets: a socket counted for one VM and then
 * joined as another is counted for the new one only (the dispatcher refuses identify after hello, so the
 * arbiter no longer does this; the class still promises it), and a closed socket is not kept by the counts
 * (an arbiter serves millions of connections over its life: each one kept was memory never given back).
 */
import { expect, test } from "bun:test";
import type { Socket } from "bun";
import type { Connection } from "../src/host/connection.ts";
import { ConnectionLimit } from "../src/host/connection-limit.ts";

const fakeSocket = (vm: string) => ({ data: { vm } }) as unknown as Socket<Connection>;

test("a socket counted for one VM, then joined as another, counts for the new VM only, and its close frees that", () => {
  const limit = new ConnectionLimit(
    () => 0,
    () => 1000,
    { limit: () => 1, sessions: () => 0 },
  );
  const socket = fakeSocket("host");
  expect(limit.joinVm(socket)).toBeUndefined();
  expect(limit.vmConnections("host")).toBe(1);
  (socket.data as { vm: string }).vm = "a";
  expect(limit.joinVm(socket)).toBeUndefined();
  expect([limit.vmConnections("host"), limit.vmConnections("a")]).toEqual([0, 1]);
  // The host's one connection is free again: another host process may connect.
  expect(limit.joinVm(fakeSocket("host"))).toBeUndefined();
  limit.left(socket);
  expect(limit.vmConnections("a")).toBe(0);
  expect(limit.joinVm(fakeSocket("a"))).toBeUndefined();
});

/** Sockets joined to VMs and closed, reachable afterwards only through `refs`. */
function joinAndClose(limit: ConnectionLimit, count: number): WeakRef<object>[] {
  const refs: WeakRef<object>[] = [];
  for (let index = 0; index < count; index++) {
    const socket = fakeSocket(`vm${index % 3}`);
    limit.letIn(socket);
    limit.joinVm(socket);
    limit.left(socket);
    refs.push(new WeakRef(socket));
  }
  return refs;
}

test("closed sockets are not kept by the per-VM counts (collectable once closed)", async () => {
  const limit = new ConnectionLimit(
    () => 0,
    () => 100_000,
    { limit: () => 5, sessions: () => 0 },
  );
  const refs = joinAndClose(limit, 200);
  // A WeakRef keeps its target until the job that made it ends.
  await Bun.sleep(0);
  Bun.gc(true);
  const kept = refs.filter((ref) => ref.deref() !== undefined).length;
  // Most, not all: the collector scans the stack conservatively, and a stale pointer there keeps a few
  // (1 to 3 of 200 seen; all 200 with closed sockets kept).
  expect(kept).toBeLessThan(refs.length / 2);
  expect(limit.vmConnections("vm0")).toBe(0);
});
