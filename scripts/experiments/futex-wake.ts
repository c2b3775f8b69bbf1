/**
 * Two bare processes, a futex on a shared file, no ivsh: how long a parked waiter takes to run after
 * FUTEX_WAKE, by the waiter's sleep slice and by what the waker does next. The figures behind the 16 ms
 * slices and the yield after a wake (src/guest/parking.ts, docs/layout.md "Parking").
 *
 *   bun scripts/experiments/futex-wake.ts            # all four cases, 300 wake-ups each
 */
import { rmSync } from "node:fs";
import {
  currentCpu,
  futexWait,
  futexWake,
  mapShared,
  O_CREAT,
  O_RDWR,
  openFile,
  PROT_READ,
  PROT_WRITE,
  truncateFd,
  viewOf,
  yieldProcessor,
} from "../../src/ffi/index.ts";

const PATH = `/dev/shm/ivsh-futex-wake-${process.pid}`;
const ROUNDS = 300;
const now = () => performance.timeOrigin + performance.now();

function shared(path: string) {
  const fd = openFile(path, O_RDWR | O_CREAT);
  truncateFd(fd, 4096, path);
  const address = mapShared(fd, 4096, PROT_READ | PROT_WRITE, path);
  const buffer = viewOf(address, 4096);
  return { address, words: new Int32Array(buffer), stamp: new Float64Array(buffer, 64, 1) };
}

async function waker(path: string, yields: boolean): Promise<void> {
  const { address, words, stamp } = shared(path);
  for (let round = 1; round <= ROUNDS; round++) {
    while (Atomics.load(words, 1) !== round) await Bun.sleep(1); // the waiter is about to sleep
    await Bun.sleep(3);
    Atomics.store(words, 3, currentCpu());
    stamp[0] = now();
    Atomics.store(words, 0, round);
    if (futexWake(address, 1) > 0 && yields) yieldProcessor();
  }
}

function waiter(path: string, sliceMs: number): string {
  const { address, words, stamp } = shared(path);
  const latencies: number[] = [];
  let sameCpu = 0;
  for (let round = 1; round <= ROUNDS; round++) {
    Atomics.store(words, 1, round);
    while (Atomics.load(words, 0) < round) futexWait(address, round - 1, sliceMs);
    latencies.push((now() - stamp[0]!) * 1000);
    if (currentCpu() === Atomics.load(words, 3)) sameCpu++;
  }
  latencies.sort((a, b) => a - b);
  const p50 = latencies[ROUNDS >> 1]!.toFixed(1);
  return `p50 ${p50} µs, woke on the waker's CPU ${sameCpu} of ${ROUNDS}`;
}

const [role, path, option] = process.argv.slice(2);
if (role === "waker") await waker(path!, option === "yield");
else {
  for (const [sliceMs, yields] of [
    [1, false],
    [16, false],
    [1, true],
    [16, true],
  ] as const) {
    rmSync(PATH, { force: true });
    shared(PATH);
    const child = Bun.spawn([process.execPath, import.meta.path, "waker", PATH, yields ? "yield" : "go-on"]);
    const result = waiter(PATH, sliceMs);
    await child.exited;
    console.log(`slice ${sliceMs} ms, waker ${yields ? "yields" : "goes on"}: ${result}`);
  }
  rmSync(PATH, { force: true });
}
