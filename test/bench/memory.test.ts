import { afterAll, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  anonymousMapping,
  fileMapping,
  measureAccess,
  measureMemcpy,
  withMapping,
} from "../../src/bench/memory.ts";
import { isIvshError } from "../../src/errors.ts";

const MiB = 1024 * 1024;

describe("memcpy bandwidth", () => {
  test("large copies: one copy per sample, a positive rate per repeat", () => {
    const result = measureMemcpy({ bytes: 8 * MiB, repeats: 3 });
    expect(result.bytes).toBe(8 * MiB);
    expect(result.copiesPerSample).toBe(1);
    expect(result.rate.count).toBe(3);
    expect(result.rate.min).toBeGreaterThan(0);
  });

  test("in-cache copies repeat the buffer to fill a sample", () => {
    const result = measureMemcpy({ bytes: 64 * 1024, repeats: 2, bytesPerSample: 4 * MiB });
    expect(result.copiesPerSample).toBe(64);
    expect(result.rate.count).toBe(2);
    expect(result.rate.median).toBeGreaterThan(0);
  });

  test.each([[0], [-1], [1.5]])("rejects a buffer size of %p", (bytes) => {
    let caught: unknown;
    try {
      measureMemcpy({ bytes, repeats: 1 });
    } catch (error) {
      caught = error;
    }
    expect(isIvshError(caught, "InvalidArgument")).toBe(true);
  });
});

describe("memory access of a mapping", () => {
  const dir = mkdtempSync(join(tmpdir(), "ivsh-access-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("anonymous memory: a read, a write and a latency sample", () => {
    const result = withMapping(anonymousMapping(4 * MiB), (mapping) =>
      measureAccess(mapping.address, mapping.length, { latencyNodes: 1024, latencySteps: 10_000 }),
    );
    expect(result.latencyNodes).toBe(1024);
    for (const sample of [result.read, result.write, result.latency]) expect(sample).toBeGreaterThan(0);
  });

  test("a mapped file measures the same way and is removed on release", () => {
    const path = join(dir, "mapped");
    const result = withMapping(fileMapping(path, 2 * MiB), (mapping) => {
      expect(existsSync(path)).toBe(true);
      return measureAccess(mapping.address, mapping.length, { latencySteps: 1000 });
    });
    expect(result.read).toBeGreaterThan(0);
    expect(existsSync(path)).toBe(false);
  });

  test("caps the chase at one node per cache line and handles a length that is not a page multiple", () => {
    const result = withMapping(anonymousMapping(64 * 100 + 8), (mapping) =>
      measureAccess(mapping.address, mapping.length, { latencySteps: 1000 }),
    );
    expect(result.latencyNodes).toBe(100);
  });

  test("refuses less than a cache line", () => {
    expect(() => measureAccess(0, 32)).toThrow(/less than a cache line/);
  });
});
