import { describe, expect, test } from "bun:test";
import { CompactMap, idShard, nameShard } from "../src/host/compact-map.ts";

/** A small deterministic generator, so a failing sequence can be replayed. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

/** Drives a CompactMap and a Map with the same operations and compares them after each. */
function checkAgainstMap(keyRange: number, operations: number, seed: number): void {
  const next = random(seed);
  const compact = new CompactMap<number, number>(idShard);
  const model = new Map<number, number>();
  for (let step = 0; step < operations; step++) {
    const key = Math.floor(next() * keyRange);
    if (next() < 0.6) {
      compact.set(key, step);
      model.set(key, step);
    } else expect(compact.delete(key)).toBe(model.delete(key));
    expect(compact.size).toBe(model.size);
    expect(compact.get(key)).toBe(model.get(key));
    expect(compact.has(key)).toBe(model.has(key));
  }
  const sorted = (pairs: Iterable<[number, number]>) => [...pairs].sort((a, b) => a[0] - b[0]);
  expect(sorted(compact.entries())).toEqual(sorted(model.entries()));
  expect([...compact.keys()].sort((a, b) => a - b)).toEqual([...model.keys()].sort((a, b) => a - b));
}

describe("CompactMap", () => {
  test("behaves as a Map while small (a few keys)", () => checkAgainstMap(12, 2_000, 1));
  test("behaves as a Map as one Map (hundreds of keys)", () => checkAgainstMap(600, 10_000, 2));
  test("behaves as a Map once split (tens of thousands of keys)", () => checkAgainstMap(40_000, 120_000, 3));

  test("keeps insertion order small and single, id order once split for increasing ids", () => {
    const small = new CompactMap<number, string>(idShard);
    for (const key of [5, 3, 9]) small.set(key, `v${key}`);
    expect([...small.keys()]).toEqual([5, 3, 9]);
    const large = new CompactMap<number, number>(idShard);
    for (let id = 1; id <= 10_000; id++) large.set(id, id);
    for (let id = 2; id <= 10_000; id += 2) large.delete(id);
    const keys = [...large.keys()];
    expect(keys.length).toBe(5_000);
    expect(keys).toEqual([...keys].sort((a, b) => a - b));
  });

  test("may be changed while iterated, at every size", () => {
    for (const size of [4, 100, 6_000]) {
      const map = new CompactMap<number, number>(idShard);
      for (let id = 0; id < size; id++) map.set(id, id);
      for (const [key] of map) map.delete(key);
      expect(map.size).toBe(0);
      expect([...map.values()]).toEqual([]);
    }
  });

  test("string keys shard by name", () => {
    const names = new CompactMap<string, number>(nameShard);
    for (let index = 0; index < 5_000; index++) names.set(`segment-${index}`, index);
    expect(names.get("segment-4321")).toBe(4321);
    expect(names.delete("segment-4321")).toBe(true);
    expect(names.has("segment-4321")).toBe(false);
    expect(names.size).toBe(4_999);
  });
});

describe("CompactMap, round 8 of the mutation audit", () => {
  test("clear() empties it at every size: size 0, no old entries, and it fills again as new", () => {
    for (const size of [4, 100, 6_000]) {
      const map = new CompactMap<number, number>(idShard);
      for (let id = 0; id < size; id++) map.set(id, id);
      map.clear();
      expect(map.size).toBe(0);
      expect([...map.keys()]).toEqual([]);
      expect(map.get(1)).toBeUndefined();
      for (let id = 0; id < 20; id++) map.set(id + 10_000, id);
      expect(map.size).toBe(20);
      expect([...map.keys()]).toEqual(Array.from({ length: 20 }, (_, id) => id + 10_000));
    }
  });

  test("keeps insertion order as one Map: it is not split before SHARD_AFTER entries", () => {
    // Keys of two id parts (4096 ids each) in turn: split, they would be walked part by part.
    const keys = Array.from({ length: 100 }, (_, index) => (index % 2) * 4096 + index);
    const map = new CompactMap<number, number>(idShard);
    for (const key of keys) map.set(key, key);
    expect([...map.keys()]).toEqual(keys);
  });
});
