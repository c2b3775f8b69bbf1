/**
 * idleCompilerThreads and backgroundPriority (src/ffi/process.ts): what each leaves on this process's
 * threads, read back from /proc/self/task/TID/stat (policy and nice). Run in a child Bun
 * (test/fixtures/thread-priority.ts), heated until its compiler threads ("JITWorker") exist: a thread's
 * scheduling cannot be undone without privilege.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { childJson } from "./helpers/child-json.ts";
import { REPO } from "./helpers/paths.ts";

const SCHED_BATCH = 3;
const SCHED_IDLE = 5;

type Thread = { name: string; policy: number; nice: number };

/** What a thread not changed has: this process's own (a test run itself niced passes it on). */
function inherited(): { policy: number; nice: number } {
  const stat = readFileSync("/proc/self/stat", "utf8");
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return { nice: Number(fields[16]), policy: Number(fields[38]) };
}
type Result = { changed: number; threads: Thread[] };

async function inChild(call: "idleCompilerThreads" | "backgroundPriority", env: Record<string, string> = {}) {
  return (await childJson([join(REPO, "test/fixtures/thread-priority.ts"), call], env)) as Result;
}

test("idleCompilerThreads puts the JITWorker threads, and only them, at SCHED_IDLE, counting them", async () => {
  const { changed, threads } = await inChild("idleCompilerThreads", { IVSH_IDLE_COMPILER: "" });
  const compilers = threads.filter((thread) => thread.name === "JITWorker");
  expect(compilers.length).toBeGreaterThan(0);
  expect(changed).toBe(compilers.length);
  for (const thread of threads)
    expect(thread).toEqual({
      ...thread,
      ...inherited(),
      ...(thread.name === "JITWorker" && { policy: SCHED_IDLE }),
    });
});

test("IVSH_IDLE_COMPILER=0 leaves every thread as it was", async () => {
  const { changed, threads } = await inChild("idleCompilerThreads", { IVSH_IDLE_COMPILER: "0" });
  expect(changed).toBe(0);
  expect(threads.some((thread) => thread.name === "JITWorker")).toBe(true);
  for (const thread of threads) expect(thread).toEqual({ ...thread, ...inherited() });
});

test("backgroundPriority puts every thread at SCHED_BATCH, nice 19, counting them", async () => {
  const { changed, threads } = await inChild("backgroundPriority");
  expect(changed).toBe(threads.length);
  for (const thread of threads) expect(thread).toEqual({ ...thread, policy: SCHED_BATCH, nice: 19 });
});
