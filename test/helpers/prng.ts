/**
 * A small seeded PRNG (sfc32, seeded through splitmix32). Every fuzz connection draws from its own stream
 * derived from (seed, connection number) alone, so what a connection sends does not depend on how the
 * others were scheduled, and `--seed S --replay C` sends connection C's frames again.
 */

function splitmix32(state: number): () => number {
  let value = state >>> 0;
  return () => {
    value = (value + 0x9e3779b9) >>> 0;
    let mixed = value;
    mixed = Math.imul(mixed ^ (mixed >>> 16), 0x85ebca6b);
    mixed = Math.imul(mixed ^ (mixed >>> 13), 0xc2b2ae35);
    return (mixed ^ (mixed >>> 16)) >>> 0;
  };
}

interface WeightTable {
  keys: string[];
  /** Running sums of the weights: key i is drawn for points below bounds[i]. */
  bounds: number[];
  total: number;
}

const weightTables = new WeakMap<object, WeightTable>();

function tableOf(weights: Readonly<Record<string, number>>): WeightTable {
  const known = weightTables.get(weights);
  if (known) return known;
  const keys = Object.keys(weights);
  let total = 0;
  const bounds = keys.map((key) => (total += weights[key]!));
  const table = { keys, bounds, total };
  weightTables.set(weights, table);
  return table;
}

export class Prng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;

  constructor(seed: number, stream = 0) {
    const seeder = splitmix32((seed >>> 0) ^ Math.imul(stream + 1, 0x27d4eb2d));
    this.a = seeder();
    this.b = seeder();
    this.c = seeder();
    this.d = seeder() | 1;
    for (let warm = 0; warm < 12; warm++) this.next();
  }

  /** A uniformly distributed u32. */
  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** 0 <= x < 1. */
  float(): number {
    return this.next() / 0x1_0000_0000;
  }

  /** 0 <= x < n (n up to 2^32). */
  int(n: number): number {
    return Math.floor(this.float() * n);
  }

  /** lo <= x <= hi. */
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(probability: number): boolean {
    return this.float() < probability;
  }

  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)]!;
  }

  /** A key of `weights` (a constant table), each with probability proportional to its weight. */
  weighted<K extends string>(weights: Readonly<Record<K, number>>): K {
    const table = tableOf(weights);
    const point = this.float() * table.total;
    let index = 0;
    while (index < table.keys.length - 1 && point >= table.bounds[index]!) index++;
    return table.keys[index] as K;
  }

  bytes(count: number): Uint8Array {
    const out = new Uint8Array(count);
    for (let at = 0; at < count; at += 4) {
      const word = this.next();
      for (let byte = 0; byte < 4 && at + byte < count; byte++) out[at + byte] = (word >>> (8 * byte)) & 0xff;
    }
    return out;
  }
}
