/**
 * The Map behind the arbiter's large tables (segments, names, each session's grants, each segment's
 * holders). It changes shape with its size, because a plain JavaScriptCore Map is wrong at both ends:
 * - small (up to SMALL_ENTRIES, as most segments' holders and many sessions' grants are): a flat array.
 *   An empty Map with its table is a few hundred bytes, and 100 000 segments with one holder each spent
 *   about half the arbiter's 150 MiB heap on them (heapStats' object census, `ivsh bench --scale`); every
 *   collection walks that heap;
 * - large (beyond SHARD_AFTER entries): split into parts by `shardOf`. A Map rehashes its whole table as
 *   entries come and go: 2 000 000 insert + delete pairs on a 100 000-entry Map paused for up to 11.0 ms,
 *   the same split 256 ways for 2.4 ms (scripts/experiments/arbiter-stalls.ts), and every request queued
 *   behind a pause waits;
 * - in between: one Map.
 * It never shrinks back to a smaller shape: a table that was large once is likely to be again.
 *
 * Iteration is in insertion order while small or single; once split, part by part in the order the parts
 * were made. Changing the map while iterating it is safe but what the iteration then sees is not
 * defined (small, it walks a copy; larger, the live Map): callers that change it copy the keys first. For ids handed out in increasing order, `idShard` keeps runs of ids together, so iteration
 * stays in id order and new entries all land in the newest, small part.
 */
const SMALL_ENTRIES = 8;
const SHARD_AFTER = 4096;

export class CompactMap<K, V> {
  /** Keys and values interleaved, while small. */
  private flat: unknown[] | undefined = [];
  private single: Map<K, V> | undefined;
  private shards: Map<number, Map<K, V>> | undefined;
  private count = 0;

  constructor(private readonly shardOf: (key: K) => number) {}

  get size(): number {
    return this.count;
  }

  get(key: K): V | undefined {
    if (this.flat) {
      const at = this.flatIndex(key);
      return at < 0 ? undefined : (this.flat[at + 1] as V);
    }
    return this.mapFor(key)?.get(key);
  }

  has(key: K): boolean {
    if (this.flat) return this.flatIndex(key) >= 0;
    return this.mapFor(key)?.has(key) ?? false;
  }

  set(key: K, value: V): this {
    if (this.flat) {
      const at = this.flatIndex(key);
      if (at >= 0) this.flat[at + 1] = value;
      else if (this.count < SMALL_ENTRIES) {
        this.flat.push(key, value);
        this.count++;
      } else {
        this.single = new Map(this.entries());
        this.flat = undefined;
        this.setInMap(key, value);
      }
      return this;
    }
    this.setInMap(key, value);
    if (this.single && this.count > SHARD_AFTER) this.split();
    return this;
  }

  clear(): void {
    this.flat = [];
    this.single = undefined;
    this.shards = undefined;
    this.count = 0;
  }

  delete(key: K): boolean {
    if (this.flat) {
      const at = this.flatIndex(key);
      if (at < 0) return false;
      this.flat.splice(at, 2);
      this.count--;
      return true;
    }
    if (this.single) {
      if (!this.single.delete(key)) return false;
      this.count--;
      return true;
    }
    const index = this.shardOf(key);
    const shard = this.shards?.get(index);
    if (!shard?.delete(key)) return false;
    this.count--;
    if (shard.size === 0) this.shards?.delete(index);
    return true;
  }

  *entries(): IterableIterator<[K, V]> {
    if (this.flat) {
      // A copy: a caller may delete while iterating, which shifts the array under an index walk.
      const pairs = this.flat.slice();
      for (let at = 0; at < pairs.length; at += 2) yield [pairs[at] as K, pairs[at + 1] as V];
    } else if (this.single) yield* this.single.entries();
    else for (const shard of this.shards?.values() ?? []) yield* shard.entries();
  }

  *values(): IterableIterator<V> {
    for (const [, value] of this.entries()) yield value;
  }

  *keys(): IterableIterator<K> {
    for (const [key] of this.entries()) yield key;
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
  }

  private flatIndex(key: K): number {
    const flat = this.flat as unknown[];
    for (let at = 0; at < flat.length; at += 2) if (flat[at] === key) return at;
    return -1;
  }

  private mapFor(key: K): Map<K, V> | undefined {
    return this.single ?? this.shards?.get(this.shardOf(key));
  }

  private setInMap(key: K, value: V): void {
    let map = this.mapFor(key);
    if (!map) {
      map = new Map();
      this.shards?.set(this.shardOf(key), map);
    }
    const before = map.size;
    map.set(key, value);
    this.count += map.size - before;
  }

  private split(): void {
    const entries = this.single as Map<K, V>;
    this.single = undefined;
    this.shards = new Map();
    this.count = 0;
    for (const [key, value] of entries) this.setInMap(key, value);
  }
}

/** Consecutive ids share a part of 4096: iteration stays in id order, churn stays in the newest part. */
export function idShard(id: number): number {
  return id >>> 12;
}

/** 256 parts by a cheap string hash (FNV-1a over UTF-16 units): names have no order worth keeping. */
export function nameShard(name: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < name.length; index++)
    hash = Math.imul(hash ^ name.charCodeAt(index), 0x01000193);
  return (hash >>> 0) & 0xff;
}
