/**
 * A client checks that the region it mapped is the one its arbiter serves: with two arbiters of the same
 * size (both freshly started, so both at epoch 1), one's --socket and the other's --region must be refused
 * before anything is written, or the client would corrupt a transfer the other arbiter is running. Pids
 * do not tell arbiters apart in containers (each is pid 1), so the region and hello carry a random
 * instance number.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, readFileSync } from "node:fs";
import { DEFAULT_REGION } from "../src/defaults.ts";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { expectRejection } from "./helpers/errors.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

let first: TestPaths;
let second: TestPaths;
const arbiters: ArbiterProcess[] = [];

beforeAll(async () => {
  first = testPaths("match-a");
  second = testPaths("match-b");
  arbiters.push(await ArbiterProcess.start(first), await ArbiterProcess.start(second));
});
afterAll(async () => {
  for (const arbiter of arbiters) await arbiter.stop();
  first?.cleanup();
  second?.cleanup();
});

test("one arbiter's socket with another's region of the same size is refused, naming both arbiters", async () => {
  const mixed = connect({ socket: second.socket, region: first.region });
  await expectRejection(
    mixed,
    "RegionInvalid",
    /served by another arbiter \(pid \d+, instance [0-9a-f]+\) than the one at .* \(pid \d+, instance [0-9a-f]+\)/,
  );
  // Each pair on its own still connects, and nothing of the refused client is left in either arbiter.
  for (const paths of [first, second]) {
    const client = await connect({ socket: paths.socket, region: paths.region, name: "matched" });
    const { clients } = await client.status();
    expect(clients.map((client) => client.name)).toEqual(["matched"]);
    await client.close();
  }
});

/** How many of this process's mappings are of `file` (as /proc/self/maps names them). */
function mappingsOf(file: string): number {
  return readFileSync("/proc/self/maps", "utf8")
    .split("\n")
    .filter((line) => line.endsWith(` ${file}`)).length;
}

test("a refused connect unmaps the region it mapped to check it: nothing of it stays in the process", async () => {
  expect(mappingsOf(first.region)).toBe(0);
  await expectRejection(connect({ socket: second.socket, region: first.region }), "RegionInvalid");
  expect(mappingsOf(first.region)).toBe(0);
});

test("a connect() whose signal is aborted unmaps the region it mapped: nothing of it stays in the process", async () => {
  const signal = AbortSignal.abort();
  await expectRejection(connect({ socket: first.socket, region: first.region, signal }), "Interrupted");
  expect(mappingsOf(first.region)).toBe(0);
});

test("a --region that is too small to be a region (a wrong path) is refused, saying where the right one is named", async () => {
  const wrong = `${first.dir}/not-a-region`;
  await Bun.write(wrong, "3 bytes");
  await expectRejection(
    connect({ socket: first.socket, region: wrong }),
    "RegionInvalid",
    /too small to hold an ivsh region: .*`ivsh status` names the region the arbiter serves.*connect\(\{ region \}\)/,
  );
});

test("a --region of another size holding no ivsh header (a wrong file) is refused, saying what to pass", async () => {
  const wrong = `${first.dir}/some-file`;
  await Bun.write(wrong, Buffer.alloc(8192, 7));
  await expectRejection(
    connect({ socket: first.socket, region: wrong }),
    "RegionInvalid",
    /Failed to use .*some-file with the arbiter at .* since it holds no ivsh header \(its first bytes are not the ivsh magic\) and is 8192 bytes, not the 16777216-byte region that arbiter serves: pass the matching --region \(`ivsh status` names it; connect\(\{ region \}\)\)/,
  );
});

/** A client given no region maps the default one when it exists: these tests need it absent. */
const defaultRegionInTheWay = existsSync(DEFAULT_REGION)
  ? `${DEFAULT_REGION} exists on this machine, and a client given no region maps it`
  : undefined;

testUnless(
  defaultRegionInTheWay,
  "a client given only the socket asks the arbiter for its region, and connects to it",
  async () => {
    const client = await connect({ socket: second.socket, name: "told-the-socket" });
    expect(client.region.source).toBe(second.region);
    await client.close();
  },
);

testUnless(
  defaultRegionInTheWay,
  "asking a stopped arbiter for its region ends as soon as the caller's signal aborts",
  async () => {
    arbiters[1]!.spawned.proc.kill("SIGSTOP");
    try {
      const abort = new AbortController();
      const connecting = connect({ socket: second.socket, signal: abort.signal });
      setTimeout(() => abort.abort(), 300);
      await expectRejection(connecting, "Interrupted", /connect to the arbiter/);
    } finally {
      arbiters[1]!.spawned.proc.kill("SIGCONT");
    }
  },
);

/** An arbiter as pid 1 of a pid namespace of its own, as in a container; killed when `unshare` is. */
async function arbiterInPidNamespace(paths: TestPaths) {
  const proc = Bun.spawn(
    ["unshare", "--pid", "--fork", "--kill-child", process.execPath, CLI, "host", "--exit-with-parent"]
      .concat(["--region", paths.region, "--socket", paths.socket, "--state", paths.state])
      .concat(["--size", "16MiB", "--block-size", "64KiB"]),
    { stdout: "ignore", stderr: "inherit" },
  );
  const started = performance.now();
  for (;;) {
    try {
      const { report } = await fetchStatus({ unix: paths.socket });
      return { proc, pid: report.arbiterPid };
    } catch (error) {
      if (performance.now() - started > 20_000 || proc.exitCode !== null) throw error;
      await Bun.sleep(50);
    }
  }
}

const cannotUnshare =
  toolMissing("unshare") ??
  (Bun.spawnSync(["unshare", "--pid", "--fork", "true"]).exitCode === 0
    ? undefined
    : "this user may not make a pid namespace (unshare --pid)");

testUnless(
  cannotUnshare,
  "two arbiters that are both pid 1 (each in its own pid namespace) are still told apart",
  async () => {
    const one = testPaths("match-ns-a");
    const two = testPaths("match-ns-b");
    const started = [await arbiterInPidNamespace(one), await arbiterInPidNamespace(two)];
    try {
      // The premise: the pids cannot tell them apart.
      expect(started.map(({ pid }) => pid)).toEqual([1, 1]);
      await expectRejection(
        connect({ socket: two.socket, region: one.region }),
        "RegionInvalid",
        /served by another arbiter \(pid 1, instance [0-9a-f]+\) than the one at .* \(pid 1, instance [0-9a-f]+\)/,
      );
    } finally {
      for (const { proc } of started) proc.kill("SIGKILL");
      await Promise.all(started.map(({ proc }) => proc.exited));
      one.cleanup();
      two.cleanup();
    }
  },
  30_000,
);
