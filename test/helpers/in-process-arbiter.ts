/**
 * An arbiter in the test's own process, for tests that read its tables directly (sessions, liveness,
 * connections, decoders) while raw sockets talk to it: started before the file's tests, stopped after.
 */
import { afterAll, beforeAll } from "bun:test";
import type { Arbiter } from "../../src/host/arbiter.ts";
import { startArbiter } from "../../src/host/start.ts";
import { log } from "../../src/log.ts";
import { type TestPaths, testPaths } from "./paths.ts";

export interface InProcessArbiter {
  readonly paths: TestPaths;
  readonly arbiter: Arbiter;
}

/** A 1 MiB region of 64 KiB blocks, a lease and hello wait far longer than any test, no quotas. */
export function inProcessArbiter(label: string): InProcessArbiter {
  let paths: TestPaths | undefined;
  let arbiter: Arbiter | undefined;
  beforeAll(async () => {
    log.level = "error";
    paths = testPaths(label);
    arbiter = await startArbiter({
      regionPath: paths.region,
      regionSize: 1 << 20,
      blockSize: 65536,
      slotCount: 16,
      statePath: paths.state,
      socketPath: paths.socket,
      leaseMs: 60_000,
      helloWaitMs: 30_000,
      clientQuotaBlocks: 0,
      vmQuotaBlocks: 0,
    });
  });
  afterAll(async () => {
    await arbiter?.stop();
    paths?.cleanup();
  });
  return {
    get paths() {
      return paths as TestPaths;
    },
    get arbiter() {
      return arbiter as Arbiter;
    },
  };
}
