/**
 * A Map split into many small Maps. JavaScriptCore's Map rehashes its whole table as entries come and go:
 * 2 000 000 insert + delete pairs on a 100 000-entry Map paused for up to 11.0 ms, the same split 256
 * ways for 2.4 ms (scripts/experiments/arbiter-stalls.ts), and every request queued behind a pause
 * waits. Split, a rehash only ever copies one small part.
 *
 * `shardOf` picks the part. For ids handed out in increasing order, `id >>> k` keeps runs of ids
 * together, so iteration still goes in id order (parts in the order they were made, each in insertion
 * order) and new entries all land in the newest, small part.
 */
export class ShardedMap<K, V> {
  private readonly shards = new Map<number, Map<K, V>>();
  private count = 0;

  constructor(private readonly shardOf: (key: K) => number) {}

  get size(): number {
    return this.count;
  }

  get(key: K): V | undefined {
    return this.shards.get(this.shardOf(key))?.get(key);
  }

  has(key: K): boolean {
    return this.shards.get(this.shardOf(key))?.has(key) ?? false;
  }

  set(key: K, value: V): this {
    const index = this.shardOf(key);
    let shard = this.shards.get(index);
    if (!shard) {
      shard = new Map();
      this.shards.set(index, shard);
    }
    const before = shard.size;
    shard.set(key, value);
    this.count += shard.size - before;
    return this;
  }

  delete(key: K): boolean {
    const index = this.shardOf(key);
    const shard = this.shards.get(index);
    if (!shard?.delete(key)) return false;
    this.count--;
    if (shard.size === 0) this.shards.delete(index);
    return true;
  }

  *entries(): IterableIterator<[K, V]> {
    for (const shard of this.shards.values()) yield* shard.entries();
  }

  *values(): IterableIterator<V> {
    for (const shard of this.shards.values()) yield* shard.values();
  }

  *keys(): IterableIterator<K> {
    for (const shard of this.shards.values()) yield* shard.keys();
  }

  [Symbol.iterator](): IterableIterator<[K, V]> {
    return this.entries();
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
