/**
 * Mutexes and condition variables across a guest and the host, in one boot: every hand-off here crosses
 * the VM boundary, so the waiters park in the arbiter or on their own kernel's futex while the waker is
 * in the other kernel. The guest runs test/fixtures/vm-sync-worker.ts, bundled here and sent in over an
 * ivsh channel (a guest has the ivsh binary, which runs scripts as bun does with BUN_BE_BUN=1). The
 * workers meet on a board segment; see the fixture for why.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { join } from "node:path";
import { type Client, connect } from "../../src/guest/index.ts";
import { PARKABLE_WORDS, type ParkableWord, parkedCount, slotWordIndex } from "../../src/region/layout.ts";
import { BOARD } from "../fixtures/vm-sync-board.ts";
import { REPO, type TestPaths, testPaths } from "../helpers/paths.ts";
import {
  ArbiterProcess,
  clientConfig,
  eventually,
  livenessBoundMs,
  type Spawned,
  spawnFixture,
} from "../helpers/processes.ts";
import { testWithTool, toolMissing } from "../helpers/tools.ts";
import { guest } from "../helpers/transfer.ts";
import { ensureBinary, GUEST_PRELUDE, Vm, vmName } from "./vm.ts";

const STEP_MS = 150_000;
const LEASE_MS = 3000;
const TIMES = 5000;
const ADDS = 2_000_000;
const ITEMS = 300;
const BOARD_NAME = "vm-board";
const NAMES = { count: "vm-count", pc: "vm-pc", hold: "vm-hold", killed: "vm-kw", bumped: "vm-lw" };
const [LOCK_WORD, SEQUENCE_WORD] = PARKABLE_WORDS as unknown as [ParkableWord, ParkableWord];

const guestConfig = (config: Record<string, unknown>) =>
  `'${JSON.stringify({ board: BOARD_NAME, ...config })}'`;

const SCRIPT = `${GUEST_PRELUDE}
ivsh guest recv --channel vm-sync-worker --out /tmp/w.js; report worker $?
w() { BUN_BE_BUN=1 ivsh /tmp/w.js "$1"; }
w ${guestConfig({ role: "add", parties: 2, times: ADDS })}; report add $?
w ${guestConfig({ role: "count", name: NAMES.count, parties: 2, times: TIMES })}; report count $?
w ${guestConfig({ role: "produce", name: NAMES.pc, items: ITEMS })} & p=$!
w ${guestConfig({ role: "consume", name: NAMES.pc, producers: 2 })} & c=$!
wait $p; rp=$?; wait $c; report pc $((rp + $?))
w ${guestConfig({ role: "hold", name: NAMES.hold })}; report holder $?
w ${guestConfig({ role: "wait", name: NAMES.killed, flag: BOARD.waitFlag })} & v=$!
w "{\\"role\\":\\"kill-when\\",\\"board\\":\\"${BOARD_NAME}\\",\\"flag\\":${BOARD.killWaiter},\\"pid\\":$v}"
wait $v; report waiter-killed $?
w ${guestConfig({ role: "bump", name: NAMES.bumped })}; report bumper $?
`;

let paths: TestPaths;
let arbiter: ArbiterProcess;
let vm: Vm;
let observer: Client;
let board: Int32Array;
const host: Spawned[] = [];
let hostCounter: Spawned;
let hostAdder: Spawned;

function hostWorker(config: Record<string, unknown>): Spawned {
  const spawned = spawnFixture("vm-sync-worker", clientConfig(paths, { board: BOARD_NAME, ...config }));
  host.push(spawned);
  return spawned;
}

/** Bundles the fixture with what it imports into one file the guest's ivsh can run. */
async function bundleWorker(): Promise<string> {
  const out = join(paths.dir, "vm-sync-worker.js");
  const build = Bun.spawnSync(
    [
      process.execPath,
      "build",
      join(REPO, "test/fixtures/vm-sync-worker.ts"),
      "--target=bun",
      "--outfile",
      out,
    ],
    { stdout: "pipe", stderr: "pipe" },
  );
  if (build.exitCode !== 0) throw new Error(`bundling the guest worker failed:\n${build.stderr.toString()}`);
  return out;
}

beforeAll(async () => {
  if (toolMissing("qemu-system-x86_64")) return;
  await ensureBinary();
  paths = testPaths("vm-sync");
  arbiter = await ArbiterProcess.start(paths, { size: "64MiB", lease: `${LEASE_MS / 1000}s` });
  // The test holds the board and every sync object, so their slots outlive any worker, dead or not.
  observer = await connect({ socket: paths.socket, region: paths.region, name: "vm-sync-observer" });
  const segment = await observer.alloc(16 << 10, { name: BOARD_NAME, mode: "write" });
  board = new Int32Array(segment.bytes.buffer, segment.bytes.byteOffset, segment.bytes.byteLength >> 2);
  await observer.mutex(NAMES.count);
  await observer.mutex(NAMES.hold);
  for (const name of [NAMES.pc, NAMES.killed, NAMES.bumped]) await observer.condvar(name);
  const worker = await bundleWorker();
  host.push(guest(paths, ["send", worker, "--channel", "vm-sync-worker"]));
  // The host's adder and counter wait on the board for the guest's; each pair then runs at once.
  hostAdder = hostWorker({ role: "add", parties: 2, times: ADDS });
  hostCounter = hostWorker({ role: "count", name: NAMES.count, parties: 2, times: TIMES });
  vm = Vm.launch({ name: vmName("sync"), script: SCRIPT, paths });
}, 60_000);

afterAll(async () => {
  await vm?.stop();
  for (const spawned of host) spawned.proc.kill("SIGKILL");
  await observer?.close();
  await arbiter?.stop();
  paths?.cleanup();
});

/** Waiters parked on a word, wherever: on any kernel's futex (the park record) or in the arbiter. */
function parkedOn(slot: number, parkable: ParkableWord): number {
  const { words, geometry } = observer;
  const record = Atomics.load(words, slotWordIndex(geometry, slot, parkable.parked));
  return parkedCount(record) + Atomics.load(words, slotWordIndex(geometry, slot, parkable.queued));
}

async function untilParked(name: string, slot: number, parkable: ParkableWord, count: number): Promise<void> {
  await eventually(
    async () => parkedOn(slot, parkable) >= count,
    livenessBoundMs(LEASE_MS) * 3,
    `${count} waiters parked on '${name}'`,
  );
}

async function slotOf(name: string): Promise<number> {
  const status = await observer.status();
  const object = status.sync.find((each) => each.name === name);
  if (!object) throw new Error(`no sync object '${name}'`);
  return object.slot;
}

testWithTool(
  "qemu-system-x86_64",
  "Atomics.add on one word from a guest and a host process at once: no update lost (2 × 2 000 000)",
  async () => {
    // Under TCG with one possible vCPU, QEMU emits the guest's lock xadd as a plain load and store, and
    // updates were lost against the host's; launch.sh boots TCG guests in parallel mode for this.
    expect((await vm.next("worker", STEP_MS)).rc).toBe(0);
    expect((await vm.next("add", STEP_MS)).rc).toBe(0);
    await hostAdder.events.next("added", STEP_MS);
    expect(await hostAdder.exit()).toBe(0);
    expect(Atomics.load(board, BOARD.added)).toBe(2 * ADDS);
  },
  2 * STEP_MS,
);

testWithTool(
  "qemu-system-x86_64",
  "mutex: a guest process and a host process, 2 × 5 000 increments give the exact sum",
  async () => {
    expect((await vm.next("count", STEP_MS)).rc).toBe(0);
    await hostCounter.events.next("counted", STEP_MS);
    expect(await hostCounter.exit()).toBe(0);
    expect(Atomics.load(board, BOARD.counter)).toBe(2 * TIMES);
  },
  2 * STEP_MS,
);

testWithTool(
  "qemu-system-x86_64",
  "condvar: producers and consumers on both sides, with spurious wake-ups: each item taken exactly once",
  async () => {
    const config = { name: NAMES.pc, producers: 2 };
    const workers = [
      hostWorker({ ...config, role: "produce", items: ITEMS }),
      hostWorker({ ...config, role: "consume" }),
      hostWorker({ ...config, role: "noise" }),
    ];
    expect((await vm.next("pc", STEP_MS)).rc).toBe(0);
    for (const worker of workers) expect(await worker.exit(STEP_MS)).toBe(0);
    const guestTaken = (await vm.next("consumed", 1000)).taken as number;
    const hostTaken = (await workers[1]!.events.next("consumed", 1000)).taken as number;
    expect(guestTaken + hostTaken).toBe(2 * ITEMS);
    expect(Atomics.load(board, BOARD.head)).toBe(2 * ITEMS);
    const seen = Array.from({ length: 2 * ITEMS }, (_, item) => Atomics.load(board, BOARD.seen + item));
    expect(seen.every((times) => times === 1)).toBe(true);
  },
  STEP_MS,
);

testWithTool(
  "qemu-system-x86_64",
  "a guest holder SIGKILLed while host lockers are parked and racing: all acquire, owner-died told once",
  async () => {
    await vm.next("holding", STEP_MS);
    const slot = await slotOf(NAMES.hold);
    const parked = [0, 1].map(() => hostWorker({ role: "lock-once", name: NAMES.hold }));
    await untilParked(NAMES.hold, slot, LOCK_WORD, 2);
    // One more, started as the holder dies: it is spinning or just parking when the lock comes free.
    const racing = hostWorker({ role: "lock-once", name: NAMES.hold });
    await racing.events.next("locking");
    Atomics.store(board, BOARD.killHolder, 1);
    expect((await vm.next("holder", STEP_MS)).rc).toBe(128 + 9);
    const outcomes: string[] = [];
    for (const locker of [...parked, racing]) {
      outcomes.push((await locker.events.next("locked", livenessBoundMs(LEASE_MS))).outcome as string);
      expect(await locker.exit()).toBe(0);
    }
    expect(outcomes.filter((outcome) => outcome === "owner-died")).toHaveLength(1);
    expect(outcomes.filter((outcome) => outcome === "acquired")).toHaveLength(2);
  },
  STEP_MS,
);

testWithTool(
  "qemu-system-x86_64",
  "a guest waiter SIGKILLed while parked: the host waiter is still woken, and the condvar still works",
  async () => {
    const slot = await slotOf(NAMES.killed);
    const hostWaiter = hostWorker({ role: "wait", name: NAMES.killed, flag: BOARD.waitFlag });
    await hostWaiter.events.next("waiting", STEP_MS);
    await vm.next("waiting", STEP_MS);
    await untilParked(NAMES.killed, slot, SEQUENCE_WORD, 2);
    Atomics.store(board, BOARD.killWaiter, 1);
    expect((await vm.next("waiter-killed", STEP_MS)).rc).toBe(128 + 9);

    const cv = await observer.condvar(NAMES.killed);
    expect(await cv.acquire()).toBe("acquired");
    Atomics.store(board, BOARD.waitFlag, 1);
    cv.notify(); // one per live waiter, as its user would send
    cv.release();
    const woken = await hostWaiter.events.next("woken", livenessBoundMs(LEASE_MS));
    expect((woken.results as string[]).every((result) => result === "notified")).toBe(true);
    expect(await hostWaiter.exit()).toBe(0);
    expect(await cv.acquire()).toBe("acquired");
    cv.release();
  },
  STEP_MS,
);

testWithTool(
  "qemu-system-x86_64",
  "a guest waker SIGKILLed between its store and its wake: the parked host waiter returns within the liveness bound",
  async () => {
    const slot = await slotOf(NAMES.bumped);
    const waiter = hostWorker({ role: "wait", name: NAMES.bumped, flag: BOARD.bumpFlag });
    await waiter.events.next("waiting", STEP_MS);
    await untilParked(NAMES.bumped, slot, SEQUENCE_WORD, 1);
    Atomics.store(board, BOARD.bumpGo, 1);
    expect((await vm.next("bumper", STEP_MS)).rc).toBe(128 + 9);
    const woken = await waiter.events.next("woken", livenessBoundMs(LEASE_MS));
    expect((woken.results as string[]).length).toBeGreaterThan(0);
    expect(await waiter.exit()).toBe(0);
    expect(await vm.exited).toBe(0);
  },
  STEP_MS,
);
