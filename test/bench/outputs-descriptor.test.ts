/**
 * Which --json names are this process's own descriptors (ownDescriptor, src/bench/output.ts): written into
 * as they are and passed over by the checks before the run. Any path under /proc was taken for one:
 * /proc/1/fd/1, another process's descriptor, or /proc/self/status, a file of this process's.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { ownDescriptor } from "../../src/bench/output.ts";

let dir: string;

beforeAll(() => {
  dir = mkdtempSync("/tmp/ivsh-bench-test-descriptor-");
  symlinkSync("/proc/self/fd/1", join(dir, "link-to-stdout"));
  symlinkSync("/proc/self/fd", join(dir, "fds"));
  symlinkSync("/proc/1/fd/1", join(dir, "link-to-init"));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test.each([
  "/dev/stdout",
  "/dev/stderr",
  "/dev/fd/1",
  "/proc/self/fd/1",
  "/proc/thread-self/fd/1",
  `/proc/${process.pid}/fd/1`,
  "link-to-stdout",
  "fds/2",
])("%s is one of this process's descriptors", (path) => {
  expect(ownDescriptor(path.startsWith("/") ? path : join(dir, path))).toBe(true);
});

test.each([
  "/proc/1/fd/1",
  "/proc/self/status",
  "/proc/self/fd",
  "/proc/sys/kernel/hostname",
  "/proc/self/fdinfo/1",
  "link-to-init",
  "plain.json",
])("%s is not one of this process's descriptors", (path) => {
  expect(ownDescriptor(path.startsWith("/") ? path : join(dir, path))).toBe(false);
});
