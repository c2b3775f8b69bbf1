/**
 * The fuzzer's resume scenario against a live arbiter, when the resume is refused with PermissionDenied
 * (the token is another VM's session) and the connection stays open in its greeting phase. The work that
 * followed could replay the resume's hello and more frames behind it: the model, which cannot foresee the
 * answer to a hello carrying a known token, threw "fuzzer bug: a frame sent after an undecided hello"
 * (seen as a `connect` violation of `bun test/fuzz/main.ts --seed 8102`).
 */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { computeGeometry } from "../src/region/layout.ts";
import { FuzzStats } from "./fuzz/report.ts";
import { resume } from "./fuzz/scenarios.ts";
import { FuzzSession, type RunContext, TokenBook } from "./fuzz/session.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

/** What the model checks every hello reply against. */
const LEASE_MS = 20_000;
/** Enough that, drawn from seed 8102, several of them replay the resume's hello first (13, 14, 21, 38). */
const CONNECTIONS = 60;

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("fuzz-resume");
  arbiter = await ArbiterProcess.start(paths, {
    size: "64MiB",
    blockSize: "64KiB",
    slots: "4096",
    lease: "20s",
  });
});

afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

function runContext(stats: FuzzStats, tokens: TokenBook): RunContext {
  return {
    seed: 8102,
    socketPath: paths.socket,
    stats,
    livenessMs: 20_000,
    geometry: computeGeometry(64 << 20, 64 << 10, 4096),
    leaseMs: LEASE_MS,
    tokens,
    stopping: () => false,
    checkMemory: () => {},
  };
}

/**
 * A session of VM 'vm-other' whose connection is closing (a fatal frame; the socket kept open, half-closed,
 * for the arbiter's close grace): meanwhile its token may be resumed, from that VM only. Returns the token.
 */
async function closingSession(stats: FuzzStats, index: number): Promise<{ token: string; end(): void }> {
  const owner = new FuzzSession(runContext(stats, new TokenBook()), index);
  await owner.link.open(true);
  await owner.exchange([
    owner.unit(owner.requests.identify("vm-other").bytes, "identify"),
    owner.unit(owner.requests.hello().bytes, "hello"),
  ]);
  const fatal = owner.requests.heartbeat().bytes.slice();
  fatal[6] = 7; // a kind no frame has: BadFrame, and the arbiter closes the connection
  await owner.exchange([owner.unit(fatal, "fatal")]);
  return { token: owner.token!, end: () => owner.link.end() };
}

describe("defect: the fuzzer's resume scenario went on greeting after a PermissionDenied", () => {
  test("a resume refused as another VM's session is followed by work the model can judge", async () => {
    const stats = new FuzzStats(8102);
    const thrown: string[] = [];
    for (let index = 0; index < CONNECTIONS; index++) {
      const owner = await closingSession(stats, 1_000_000 + index);
      expect(owner.token).toMatch(/^[0-9a-f]{32}$/);
      const tokens = new TokenBook();
      tokens.add(owner.token);
      const session = new FuzzSession(runContext(stats, tokens), index);
      try {
        await session.link.open();
        await resume(session);
        await session.finish();
      } catch (error) {
        thrown.push(`connection ${index}: ${String(error)}`);
      } finally {
        session.link.end();
        owner.end();
      }
    }
    expect(thrown).toEqual([]);
    expect(stats.violations.map((violation) => `${violation.kind}: ${violation.detail}`)).toEqual([]);
    // Each resume was refused as the test means (not SessionUnknown after the grace, say).
    expect(stats.outcomes.get("PermissionDenied")).toBeGreaterThanOrEqual(CONNECTIONS);
  }, 120_000);
});
