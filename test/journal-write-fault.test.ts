/**
 * A stop is the last chance to record the session ends the state journal refused (src/host/late-ends.ts).
 * It tried only where the journal's file system had been full (ENOSPC) and has room again: after any other
 * failure (EIO, a quota's EDQUOT, a file-size limit's EFBIG) a fault that had passed went unnoticed, and
 * the stop left the ended session live in the journal, for the next start to restore unless the region's
 * header still listed it; and while the arbiter ran, the sweep did not try it either, so it waited for the
 * lease to run out. And `ivsh status`, asked without a session where the journal cannot record one,
 * did so only for a full or missing journal (NoSpace, now JournalFull; StateInvalid): after any other failure it failed with
 * the hello's refusal, when the operator needs the status most. Here the failure is EFBIG: the arbiter's
 * RLIMIT_FSIZE, lowered under it to the journal's size and raised again (prlimit --pid), which needs
 * neither a mount nor a failing disk.
 */
import { afterEach, expect } from "bun:test";
import { execFileSync } from "node:child_process";
import { closeSync, openSync, readFileSync, readSync, statSync } from "node:fs";
import { fetchStatus } from "../src/guest/inspect.ts";
import { unrecordedEnds } from "../src/host/unrecorded-ends.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, eventually, runCli, spawnFixture } from "./helpers/processes.ts";
import { testWithTool } from "./helpers/tools.ts";

let paths: TestPaths | undefined;

afterEach(() => {
  paths?.cleanup();
  paths = undefined;
});

/** The region's header page, as the arbiter wrote it. */
function headerWords(region: string): Int32Array {
  const page = new Uint8Array(4096);
  const fd = openSync(region, "r");
  try {
    readSync(fd, page, 0, page.length, 0);
  } finally {
    closeSync(fd);
  }
  return new Int32Array(page.buffer);
}

/** Sets the soft limit on the size of files `pid` writes (bytes, or "unlimited"); root may raise it again. */
function fileSizeLimit(pid: number, limit: number | "unlimited"): void {
  execFileSync("prlimit", ["--pid", String(pid), `--fsize=${limit}:unlimited`]);
}

/**
 * An arbiter whose journal refused, on EFBIG, the end of a lock holder killed -9 (the end listed in the
 * region's header), then takes writes again with nothing else changing the state: `after` runs then.
 * The lease is far longer than the test, so the end is not retried because the lease ran out.
 */
async function lateEndHealed(
  label: string,
  after: (arbiter: ArbiterProcess, clientId: number) => Promise<void>,
) {
  paths = testPaths(label);
  const arbiter = await ArbiterProcess.start(paths, { lease: "60s" });
  try {
    const holder = spawnFixture("holder", clientConfig(paths, { segment: "held", mutex: "held-lock" }));
    const clientId = Number((await holder.events.next("holding")).clientId);
    const { epoch } = (await fetchStatus({ unix: paths.socket })).report;
    fileSizeLimit(arbiter.pid, statSync(paths.state).size);
    holder.proc.kill("SIGKILL");
    await holder.proc.exited;
    // Listed in the region's header once the journal refused its end (no status: it needs a session).
    const region = paths.region;
    await eventually(
      async () => unrecordedEnds(headerWords(region), epoch).includes(clientId),
      20_000,
      "the journal refusing the holder's end",
    );
    fileSizeLimit(arbiter.pid, "unlimited");
    await after(arbiter, clientId);
  } finally {
    await arbiter.stop().catch(() => {});
  }
}

const ended = (clientId: number) => JSON.stringify({ t: "session-end", clientId });

testWithTool(
  "prlimit",
  "a stop after the journal's write failure (EFBIG) has passed records the session end it refused",
  () =>
    lateEndHealed("stop-late-end", async (arbiter, clientId) => {
      await arbiter.stop();
      expect(readFileSync(paths!.state, "utf8")).toContain(ended(clientId));
      expect(await arbiter.spawned.stderr).not.toMatch(/could not record the end of the session/);
    }),
  60_000,
);

testWithTool(
  "prlimit",
  "a session end the journal refused (EFBIG) is recorded soon after the fault passes, not when the lease runs out",
  () =>
    lateEndHealed("late-end-healed", async (_arbiter, clientId) => {
      // Well within the 60 s lease at whose end the end was retried before.
      await eventually(
        async () => readFileSync(paths!.state, "utf8").includes(ended(clientId)),
        20_000,
        "the record of the holder's end",
      );
    }),
  60_000,
);

testWithTool(
  "prlimit",
  "ivsh status while the journal's writes fail (EFBIG): answered without a session, naming the outage",
  async () => {
    paths = testPaths("status-efbig");
    const arbiter = await ArbiterProcess.start(paths);
    try {
      fileSizeLimit(arbiter.pid, statSync(paths.state).size);
      const status = await runCli(["status", "--socket", paths.socket, "--region", paths.region]);
      expect({ exitCode: status.exitCode, stderr: status.stderr }).toEqual({ exitCode: 0, stderr: "" });
      expect(status.stdout).toMatch(/^state journal: REFUSING CHANGES for .*EFBIG/m);
    } finally {
      await arbiter.stop().catch(() => {});
    }
  },
  60_000,
);
