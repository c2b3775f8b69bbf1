/**
 * The arbiter that the tests of one file (or one describe block) share, so that each test does not pay
 * for an arbiter's start. A test that needs other flags, a fresh state or several arbiters starts its
 * own. A module of its own, not part of ./processes.ts, because the soak and fuzz runners import that
 * outside `bun test`, where these hooks have no test run to attach to.
 */
import { afterAll, beforeAll, beforeEach } from "bun:test";
import { type TestPaths, testPaths } from "./paths.ts";
import { type ArbiterFlags, ArbiterProcess } from "./processes.ts";

/**
 * The places read directly (`suite.socket`), as the tests read `paths.socket` of their own TestPaths;
 * `paths` itself for helpers that take a TestPaths. Each getter throws, naming the block, if read
 * before the block's beforeAll made what it reads (at module load, say).
 */
export interface SharedArbiter extends Readonly<Omit<TestPaths, "cleanup">> {
  readonly paths: TestPaths;
  readonly arbiter: ArbiterProcess;
}

/**
 * Registers, where it is called, the hooks that give the block's tests one arbiter: it starts before the
 * first test (its places are made then too, so loading the file makes nothing), is revived before each
 * (see `ArbiterProcess.revive`), and is stopped before its places are removed, so it never runs without
 * its socket and state file.
 */
export function sharedArbiter(label: string, flags: ArbiterFlags = {}): SharedArbiter {
  let paths: TestPaths | undefined;
  let arbiter: ArbiterProcess | undefined;
  beforeAll(async () => {
    paths = testPaths(label);
    arbiter = await ArbiterProcess.start(paths, flags);
  });
  beforeEach(() => started().revive());
  afterAll(async () => {
    await arbiter?.stop();
    paths?.cleanup();
  });
  function started(): ArbiterProcess {
    if (!arbiter)
      throw new Error(`the shared arbiter '${label}' is not running: its beforeAll failed or has not run`);
    return arbiter;
  }
  function made(): TestPaths {
    if (!paths)
      throw new Error(`the shared arbiter '${label}' has no paths yet: read them in a test or hook`);
    return paths;
  }
  return {
    get paths() {
      return made();
    },
    get arbiter() {
      return started();
    },
    get dir() {
      return made().dir;
    },
    get shmDir() {
      return made().shmDir;
    },
    get region() {
      return made().region;
    },
    get socket() {
      return made().socket;
    },
    get state() {
      return made().state;
    },
  };
}
