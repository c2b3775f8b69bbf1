/**
 * A Client's session facts (clientId, epoch, leaseMs, vm, reconnects, parking) are the arbiter's word, not
 * the program's: they were plain writable fields, in the package's types too, and a program that set
 * `clientId` (to another client's, say) took locks under that id: the other client's unlock() then let go
 * of a lock it never took. They are read-only: tsc refuses the assignment, and at run time it throws.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("client-facts");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("a client's id cannot be set to another's, so its lock is not the other's to unlock", async () => {
  const a = await connect({ socket: paths.socket, region: paths.region, name: "a" });
  const b = await connect({ socket: paths.socket, region: paths.region, name: "b" });
  try {
    const taken = b.clientId;
    // @ts-expect-error the session's id is read-only
    expect(() => (a.clientId = taken)).toThrow(TypeError);
    expect(a.clientId).not.toBe(b.clientId);
    const lockA = await a.mutex("facts-lock");
    const lockB = await b.mutex("facts-lock");
    expect(await lockA.lock()).toBe("acquired");
    expect(lockA.owner).toBe(a.clientId);
    expect(() => lockB.unlock()).toThrow("holds it, not this one");
    lockA.unlock();
  } finally {
    await a.close();
    await b.close();
  }
});

test("every session fact refuses to be set", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  try {
    const facts = ["clientId", "epoch", "leaseMs", "vm", "reconnects", "parking"] as const;
    const before = facts.map((fact) => client[fact]);
    for (const fact of facts) {
      const writable = client as unknown as Record<string, unknown>;
      expect(() => {
        writable[fact] = typeof client[fact] === "string" ? "forged" : 7;
      }, fact).toThrow(TypeError);
    }
    expect(facts.map((fact) => client[fact])).toEqual(before);
    expect(client.leaseMs).toBeGreaterThan(0);
  } finally {
    await client.close();
  }
});
