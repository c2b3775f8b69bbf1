/** The arbiter is killed -9 with live allocations and restarted: nothing is lost, clients carry on. */
import { expect, test } from "bun:test";
import { chmodSync, chownSync, closeSync, openSync, rmSync, statSync, writeSync } from "node:fs";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { Header } from "../src/region/layout.ts";
import { clientConfig, eventually, livenessBoundMs, spawnFixture } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { expectResumedOnce } from "./helpers/survivor.ts";

const suite = sharedArbiter("restart", { lease: "3s" });

test("kill -9 of the arbiter, restart: same allocations, new epoch, the client carries on", async () => {
  const survivor = spawnFixture("survivor", clientConfig(suite.paths, { segment: "kept" }));
  const ready = await survivor.events.next("ready");
  const abandoned = spawnFixture("survivor", clientConfig(suite.paths, { segment: "abandoned" }));
  await abandoned.events.next("ready");
  survivor.proc.stdin.write("step\n");
  survivor.proc.stdin.flush();
  expect((await survivor.events.next("stepped")).first).toBe(8);
  const before = (await fetchStatus({ unix: suite.socket })).report;

  await suite.arbiter.kill9();
  // The abandoned client dies while the arbiter is down: its session must be reclaimed after the lease.
  abandoned.proc.kill("SIGKILL");
  // A guest may scribble on the header while no arbiter runs: the restart rewrites it from the state.
  const header = new Uint32Array(
    new Uint8Array(await Bun.file(suite.region).slice(0, 8).arrayBuffer()).buffer,
  );
  header[0] = 0xdeadbeef;
  header[1] = 0;
  writeHeaderPrefix(suite.region, new Uint8Array(header.buffer));
  survivor.proc.stdin.write("step\n"); // issued while no arbiter runs: must complete after the restart
  survivor.proc.stdin.flush();
  await Bun.sleep(300);
  await suite.arbiter.restart();

  const stepped = await survivor.events.next("stepped");
  expect(stepped.epoch).toBe((ready.epoch as number) + 1);
  expect(stepped.reconnects).toBe(1);
  expect(stepped.first).toBe(9);
  expect(stepped.owner).toBe(ready.clientId); // still holds its lock

  const after = (await fetchStatus({ unix: suite.socket })).report;
  expect(after.epoch).toBe(before.epoch + 1);
  const kept = after.segments.find((segment) => segment.name === "kept");
  expect(kept?.firstBlock).toBe(ready.firstBlock as number);
  expect(kept?.holders).toEqual([{ clientId: ready.clientId as number, mode: "write" }]);
  expect(after.segments.map((segment) => segment.name).sort()).toEqual(["abandoned", "kept"]);

  // The client that never came back is reclaimed once its 3 s lease runs out: waited for up to the
  // lease's liveness bound (a fixed 4 s sleep assumed the sweep ran within 1 s of the lease on a loaded
  // machine).
  const status = async () => (await fetchStatus({ unix: suite.socket })).report;
  const segmentNames = async () => (await status()).segments.map((segment) => segment.name);
  await eventually(
    async () => !(await segmentNames()).includes("abandoned"),
    livenessBoundMs(3000),
    "the reclaim of the abandoned client's segment",
  );
  const reclaimed = await status();
  expect(reclaimed.segments.map((segment) => segment.name)).toEqual(["kept"]);
  const lock = reclaimed.sync.find((object) => object.name === "kept-lock");
  expect(lock?.lockOwner).toBe(ready.clientId as number);

  survivor.proc.stdin.write("step\nexit\n");
  survivor.proc.stdin.flush();
  expect((await survivor.events.next("stepped")).first).toBe(10);
  await survivor.events.next("closed");
  expect(await survivor.exit()).toBe(0);
}, 60_000);

/** Overwrites the first bytes of the region file in place (no truncation: the data must stay). */
function writeHeaderPrefix(path: string, bytes: Uint8Array): void {
  const fd = openSync(path, "r+");
  writeSync(fd, bytes, 0, bytes.byteLength, 0);
  closeSync(fd);
}

test("a clean stop (SIGTERM) keeps sessions too: the client resumes after the restart", async () => {
  const survivor = spawnFixture("survivor", clientConfig(suite.paths, { segment: "graceful" }));
  const ready = await survivor.events.next("ready");
  await suite.arbiter.stop();
  await suite.arbiter.restart();
  await expectResumedOnce(survivor, ready);
}, 60_000);

test("a restart rewrites the state journal with the mode and group the operator gave it", async () => {
  await suite.arbiter.stop();
  chmodSync(suite.state, 0o640);
  // A monitoring group's (only root may give a file to a group it is not in).
  const group = process.getuid?.() === 0 ? 1 : statSync(suite.state).gid;
  chownSync(suite.state, statSync(suite.state).uid, group);
  await suite.arbiter.restart();
  expect(statSync(suite.state).mode & 0o777).toBe(0o640);
  expect(statSync(suite.state).gid).toBe(group);
}, 60_000);

test("an epoch at 2^32-1 wraps to 1 instead of locking every client out", async () => {
  await suite.arbiter.stop();
  const epoch = new Uint8Array(4);
  new DataView(epoch.buffer).setUint32(0, 0xffffffff, true);
  const fd = openSync(suite.region, "r+");
  writeSync(fd, epoch, 0, 4, Header.epoch);
  closeSync(fd);
  await suite.arbiter.restart();
  const { report } = await fetchStatus({ unix: suite.socket });
  expect(report.epoch).toBe(1);
}, 60_000);

test("a client that connects while the arbiter restarts gets in once it is back", async () => {
  await suite.arbiter.kill9();
  // Standing in for an arbiter that dies during our hello: it accepts the connection, then drops it.
  rmSync(suite.socket, { force: true });
  const dropping = Bun.listen({
    unix: suite.socket,
    socket: {
      open(socket) {
        socket.end();
      },
      data() {},
    },
  });
  const connecting = connect({ socket: suite.socket, region: suite.region, name: "early" });
  await Bun.sleep(300);
  dropping.stop(true);
  rmSync(suite.socket, { force: true });
  await suite.arbiter.restart();
  const client = await connecting;
  expect(client.epoch).toBe((await fetchStatus({ unix: suite.socket })).report.epoch);
  await client.close();
}, 60_000);
