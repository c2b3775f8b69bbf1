/** The soak's shared board: a few i32 words in a segment every worker of a workload maps (see lock-worker.ts). */
const COUNTER = 0;
const INSIDE = 1;
const TURN = 2;
const COUNT_BASE = 8;
export const MAX_WORKERS = 32;
export const BOARD_BYTES = 4096;

export class Board {
  private readonly words: Int32Array;

  constructor(bytes: Uint8Array) {
    this.words = new Int32Array(bytes.buffer, bytes.byteOffset, BOARD_BYTES / 4);
  }

  get inside(): number {
    return Atomics.load(this.words, INSIDE);
  }

  get counter(): number {
    return Atomics.load(this.words, COUNTER);
  }

  get turn(): number {
    return Atomics.load(this.words, TURN);
  }

  set turn(value: number) {
    Atomics.store(this.words, TURN, value);
  }

  count(worker: number): number {
    return Atomics.load(this.words, COUNT_BASE + worker);
  }

  countsTotal(): number {
    let total = 0;
    for (let worker = 0; worker < MAX_WORKERS; worker++) total += this.count(worker);
    return total;
  }

  enter(me: number): void {
    Atomics.store(this.words, INSIDE, me);
  }

  /** False if the word no longer names us: someone else entered meanwhile. */
  leave(me: number): boolean {
    return Atomics.compareExchange(this.words, INSIDE, me, 0) === me;
  }

  increment(worker: number): void {
    Atomics.add(this.words, COUNTER, 1);
    Atomics.add(this.words, COUNT_BASE + worker, 1);
  }

  /** An owner died inside: its two updates may be half done; the per-worker counts are the truth. */
  repairAfterDeath(): void {
    Atomics.store(this.words, COUNTER, this.countsTotal());
    Atomics.store(this.words, INSIDE, 0);
  }
}
