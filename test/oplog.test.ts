/**
 * What the arbiter tells its operator: sessions that start and end (with name, pid and VM), requests it
 * refuses and why, lease expiries, locks released as owner-died; and the levels that choose how much
 * (`ivsh host --log-level`, -q, -v). Clients are real processes; the arbiter's stderr is read after it
 * stops.
 */
import { afterEach, expect, spyOn, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, runCli, spawnFixture } from "./helpers/processes.ts";

let paths: TestPaths | undefined;
afterEach(() => paths?.cleanup());

/** An arbiter with `flags`, a session that is refused twice and leaves, and a lock holder that is killed. */
async function eventsLogged(flags: string[]): Promise<string[]> {
  paths = testPaths("oplog");
  const arbiter = await ArbiterProcess.start(paths, { extra: flags });
  const client = await connect({ socket: paths.socket, region: paths.region, name: "operator-test" });
  await client.open("no-such-name").catch(() => undefined); // routine: debug only
  await client.alloc(1 << 30).catch(() => undefined); // the region cannot hold it: info
  await client.close();
  const holder = spawnFixture("holder", clientConfig(paths, { segment: "held", mutex: "held-lock" }));
  const { clientId } = await holder.events.next("holding");
  holder.proc.kill("SIGKILL");
  await holder.proc.exited;
  // The arbiter has noticed once a status no longer lists the holder.
  for (;;) {
    const { stdout } = await runCli(["status", "--socket", paths.socket, "--region", paths.region, "--json"]);
    if (!JSON.parse(stdout).clients.some((each: { clientId: number }) => each.clientId === clientId)) break;
    await Bun.sleep(20);
  }
  await arbiter.stop();
  return (await arbiter.spawned.stderr).split("\n");
}

test("at the default level: sessions, refusals with their reason, and owner-died locks", async () => {
  const lines = await eventsLogged([]);
  const has = (pattern: RegExp) => expect(lines.some((line) => pattern.test(line))).toBe(true);
  has(/client #\d+ 'operator-test' \(pid \d+, VM host\) connected$/);
  has(/client #\d+ \(VM host\): alloc refused: Failed to allocate a segment since it needs \d+ blocks/);
  has(/client #\d+ 'operator-test' \(pid \d+, VM host\) said goodbye: released 0 grants and 0 lock handles/);
  has(/client #\d+ 'holder' \(pid \d+, VM host\) disconnected: released 1 grant and 1 lock handle/);
  has(/WARN mutex 'held-lock' was held by client #\d+ 'holder' .*: released as owner-died/);
  expect(lines.some((line) => line.includes("open refused"))).toBe(false);
});

test("-v adds the routine refusals; -q keeps only warnings", async () => {
  const verbose = await eventsLogged(["-v"]);
  expect(verbose.some((line) => /open refused: Failed to open segment 'no-such-name'/.test(line))).toBe(true);
  paths?.cleanup();
  const quiet = await eventsLogged(["-q"]);
  expect(quiet.some((line) => line.includes("connected"))).toBe(false);
  expect(quiet.some((line) => line.includes("refused"))).toBe(false);
  expect(quiet.some((line) => /WARN mutex 'held-lock' .* released as owner-died/.test(line))).toBe(true);
});

test("a log level that does not exist, or two level flags, is a usage error", async () => {
  const unknown = await runCli(["host", "--log-level", "loud"]);
  expect(unknown.exitCode).toBe(2);
  expect(unknown.stderr).toContain("--log-level loud since it is not one of error, warn, info, debug");
  const both = await runCli(["host", "-q", "-v"]);
  expect(both.exitCode).toBe(2);
  expect(both.stderr).toContain("--log-level, -q and -v each set it: pass one of them");
});

test("close({ waitForArbiter: false }) writes the goodbye one-way; the arbiter still logs it and releases everything", async () => {
  paths = testPaths("oplog-oneway");
  const arbiter = await ArbiterProcess.start(paths);
  const client = await connect({ socket: paths.socket, region: paths.region, name: "one-way" });
  await client.alloc(4096, { name: "held-until-bye" });
  const requested = spyOn(client.transport, "request");
  const notified = spyOn(client.transport, "notify");
  await client.close({ waitForArbiter: false });
  expect(requested).not.toHaveBeenCalled();
  expect(notified.mock.calls.map(([name]) => name)).toEqual(["bye"]);
  for (;;) {
    const { stdout } = await runCli(["status", "--socket", paths.socket, "--region", paths.region, "--json"]);
    if (JSON.parse(stdout).segments.length === 0) break;
    await Bun.sleep(20);
  }
  await arbiter.stop();
  const lines = (await arbiter.spawned.stderr).split("\n");
  expect(lines.some((line) => /'one-way' .* said goodbye: released 1 grant/.test(line))).toBe(true);
});

test("the ends of `ivsh guest send` / `recv` say goodbye: logged as such, nothing left held", async () => {
  paths = testPaths("oplog-transfer");
  const arbiter = await ArbiterProcess.start(paths);
  const file = `${paths.dir}/small`;
  await Bun.write(file, "x".repeat(1024));
  const where = ["--socket", paths.socket, "--region", paths.region, "--channel", "bye"];
  // Twice on one channel: the ends give their role words back themselves, so the next pair finds them
  // free (left to the goodbye, they would be released as owner-died, a warning in the log).
  for (const copy of ["copy", "again"]) {
    const [received, sent] = await Promise.all([
      runCli(["guest", "recv", "--out", `${paths.dir}/${copy}`, ...where]),
      runCli(["guest", "send", file, ...where]),
    ]);
    expect([received.exitCode, sent.exitCode]).toEqual([0, 0]);
  }
  const { stdout } = await runCli(["status", "--socket", paths.socket, "--region", paths.region, "--json"]);
  const status = JSON.parse(stdout);
  expect([status.clients.length, status.segments.length]).toEqual([0, 0]);
  await arbiter.stop();
  const lines = (await arbiter.spawned.stderr).split("\n");
  // The goodbye gives back the ring's grant and the slot's handle (src/transfer/run.ts, release).
  for (const end of ["recv", "send"])
    expect(
      lines.some((line) =>
        new RegExp(`'${end} .*said goodbye: released 1 grant and 1 lock handle`).test(line),
      ),
    ).toBe(true);
  expect(lines.filter((line) => / said goodbye: /.test(line))).toHaveLength(4);
  expect(lines.some((line) => line.includes(" disconnected: ") || line.includes("WARN"))).toBe(false);
});

test("a session that asks for nothing beyond status (a monitor polling `ivsh status`) is logged at debug only", async () => {
  const statusRuns = async (flags: string[]) => {
    paths?.cleanup();
    paths = testPaths("oplog-status");
    const arbiter = await ArbiterProcess.start(paths, { extra: flags });
    for (let run = 0; run < 3; run++) {
      const { exitCode } = await runCli(["status", "--socket", paths.socket, "--region", paths.region]);
      expect(exitCode).toBe(0);
    }
    await arbiter.stop();
    return (await arbiter.spawned.stderr).split("\n").filter((line) => line.includes("client #"));
  };
  expect(await statusRuns([])).toEqual([]);
  const verbose = await statusRuns(["-v"]);
  expect(verbose).toHaveLength(3);
  for (const line of verbose)
    expect(line).toMatch(
      /client #\d+ .* connected and said goodbye, having asked for nothing beyond status$/,
    );
});
