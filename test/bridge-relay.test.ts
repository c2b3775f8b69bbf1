/**
 * A bridge that relays a guest connection for its whole life, instead of handing it over (IVSH_BRIDGE=relay,
 * or an arbiter too old to take it; stdin and stdout one socket here, as QEMU's guestfwd gives them). It
 * must behave towards the guest as the arbiter's own socket would: closed when the arbiter goes, and
 * holding back when the arbiter does (docs/protocol.md sections 10 and 11).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import type { FdSocketOptions, Socket } from "bun";
import { streamSocketPair } from "../src/ffi/fd-passing.ts";
import { closeFd } from "../src/ffi/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { bridgeOnSocketPair } from "./helpers/guestfwd.ts";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, livenessBoundMs } from "./helpers/processes.ts";
import { rawClient } from "./helpers/raw.ts";
import { tracked } from "./helpers/reaper.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
const VM = "relayed-vm";
const ALLOCS = 2000;

beforeAll(async () => {
  paths = testPaths("bridge-relay");
  arbiter = await ArbiterProcess.start(paths, { size: "64MiB", blockSize: "4KiB", lease: "20s" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

/** bun-types declares FdSocketOptions but no Bun.connect overload taking it; the runtime has one. */
const connectFd = Bun.connect as unknown as <Data>(options: FdSocketOptions<Data>) => Promise<Socket<Data>>;

/**
 * A raw client on one end of a socket pair whose other end is a relaying bridge's stdin and stdout (as
 * QEMU's guestfwd gives it), or, with `direct`, on the arbiter's socket, identifying as the VM itself.
 */
async function relayedClient(direct: boolean) {
  let bridge: ReturnType<typeof Bun.spawn> | undefined;
  const client = await rawClient(async (handlers) => {
    if (direct) return Bun.connect({ unix: paths.socket, socket: handlers });
    const [mine, theirs] = streamSocketPair();
    bridge = tracked(
      Bun.spawn([process.execPath, CLI, "bridge", "--vm", VM, "--socket", paths.socket], {
        stdin: theirs,
        stdout: theirs,
        stderr: "ignore",
        env: { ...process.env, IVSH_BRIDGE: "relay" },
      }),
    );
    closeFd(theirs);
    return connectFd<undefined>({ fd: mine, socket: handlers });
  });
  if (direct) client.send("identify", 0, { vm: VM });
  const hello = (sessionToken: string) => client.hello("relayed", sessionToken, 10_000, "the hello reply");
  return { ...client, hello, bridge };
}

test("when the arbiter dies, a relaying bridge closes the guest's connection at once, though the guest sends nothing", async () => {
  const guest = await relayedClient(false);
  await guest.hello("");
  await arbiter.kill9();
  // Before, the bridge went on reading a guest with nobody to relay to: the guest learnt of it only at its
  // next write (a parked wait, which section 10 ends at once on a drop, slept on), or never.
  const closed = await Promise.race([guest.closed.then(() => true), Bun.sleep(15_000).then(() => false)]);
  await arbiter.restart();
  guest.socket.end();
  expect(closed).toBe(true);
  expect(await guest.bridge?.exited).toBe(0);
}, 60_000);

const allocRequest = { bytes: 0, blocks: 1, mode: 2, name: "" };
const segments = async () => (await fetchStatus({ unix: paths.socket }, 0)).report.totals.segments;

/** Polls `value` until it has not changed for a few polls; returns it then. */
async function settledValue(value: () => Promise<number>, what: string): Promise<number> {
  const seen: number[] = [];
  await eventually(
    async () => {
      seen.push(await value());
      const last = seen.slice(-4);
      return last.length === 4 && Math.max(...last) - Math.min(...last) <= 1;
    },
    60_000,
    what,
  );
  return seen.at(-1)!;
}

test("a relayed guest that sends without reading meets the arbiter's hold: its requests stop being run", async () => {
  const guest = await relayedClient(false);
  await guest.hello("");
  const before = await segments();
  guest.socket.pause();
  for (let id = 2; id < 2 + ALLOCS; id++) guest.send("alloc", id, allocRequest);
  // The arbiter stops reading a connection once 32 replies wait: through the sockets, the relay must stop
  // too. Before, the bridge read every reply and kept those the guest did not take: all 2000 were run, the
  // replies in the bridge's memory, and a guest that never reads grew it without bound.
  const done = (await settledValue(segments, "the arbiter to stop running the guest's allocs")) - before;
  expect(done).toBeLessThan(ALLOCS);
  // Once it reads again, every alloc is run and answered.
  guest.socket.resume();
  await eventually(async () => guest.frames.length === 1 + ALLOCS, 30_000, "an answer to every alloc");
  expect((await segments()) - before).toBe(ALLOCS);
  guest.socket.end();
  expect(await guest.bridge?.exited).toBe(0);
}, 120_000);

/** A process's resident memory, in MiB. */
const rssMiB = (pid: number) =>
  Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1]) / 1024;

test("a relayed guest that asks without reading does not grow its bridge without bound", async () => {
  const guest = await relayedClient(false);
  await guest.hello("");
  for (let id = 2; id < 2 + 1000; id++) guest.send("alloc", id, allocRequest);
  await eventually(async () => guest.frames.length === 1001, 30_000, "the allocs");
  const pid = guest.bridge!.pid;
  const start = rssMiB(pid);
  // Each reply lists 1000 segments (~60 KiB), each request is a few bytes. Before, the bridge read every
  // reply and kept it for the guest: 2000 of them grew it by ~120 MiB, and more would have grown it more.
  guest.socket.pause();
  for (let id = 5000; id < 5000 + 2000; id++) guest.send("status", id, { limit: 1000, onlyClient: 0 });
  const grown =
    (await settledValue(async () => Math.round(rssMiB(pid)), "the bridge's memory to settle")) - start;
  expect(grown).toBeLessThan(64);
  guest.socket.end();
}, 120_000);

test("a relaying bridge whose arbiter is stalled gives up on its identify, not outliving a guest that left", async () => {
  process.kill(arbiter.pid, "SIGSTOP");
  try {
    const { bridge, mine } = bridgeOnSocketPair(VM, paths.socket, { env: { IVSH_BRIDGE: "relay" } });
    // The guest gives up (its hello unanswered) and goes; a guest retrying starts a bridge per try.
    closeFd(mine);
    // Before, the bridge waited for the identify reply as long as the arbiter stalled, ~40 MiB each.
    await eventually(
      async () => bridge.exitCode !== null,
      livenessBoundMs(5000),
      "the bridge exiting while the arbiter is stopped",
    );
    expect(bridge.exitCode).toBe(1);
    expect(await new Response(bridge.stderr).text()).toContain("did not answer");
  } finally {
    process.kill(arbiter.pid, "SIGCONT");
  }
  expect((await fetchStatus({ unix: paths.socket })).report).toBeDefined();
}, 60_000);
