/**
 * src/bench/output.ts at its edges: the markdown's header for a --quick plan and a guest, a FIFO held twice
 * or held again after its first document, a full file system's failure said as NoSpace, and a --json that is
 * a link to nothing written through the link.
 */
import { afterAll, expect, test } from "bun:test";
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  type BenchReport,
  holdFifo,
  renderMarkdown,
  writeFailure,
  writeJson,
} from "../../src/bench/output.ts";
import { benchPlan } from "../../src/bench/plan.ts";
import { EXIT_BOUND_MS, exitOrKill } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-bench-output-edges-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A report with no results: only its header and plan line are of interest. */
function report(quick: boolean, hypervisor?: string): BenchReport {
  const machine = {
    cpu: "a CPU",
    cores: 2,
    nproc: 2,
    caches: "unknown",
    kernel: "Linux",
    memoryBytes: 2 ** 30,
    bun: "1",
    digest: "portable",
    ...(hypervisor ? { hypervisor } : {}),
  };
  const plan = benchPlan({ quick, vm: false });
  return {
    command: "ivsh bench",
    startedAt: "",
    seconds: 1,
    machine,
    plan,
    sections: [],
    goals: [],
    notes: [],
  } as never;
}

test("the markdown says a --quick plan is smaller than the report's, and a guest's hypervisor", () => {
  const quickGuest = renderMarkdown(report(true, "KVM"));
  expect(quickGuest).toContain("(--quick: smaller than the report's sizes)");
  expect(quickGuest).toContain("2 CPUs (nproc 2), a KVM guest");
  const full = renderMarkdown(report(false));
  expect(full).not.toContain("--quick");
  expect(full).toContain("2 CPUs (nproc 2)\n");
});

/** A reader of `fifo` (cat): what it read once the writer closed its end, or a failure at the bound. */
function reader(fifo: string) {
  const cat = tracked(Bun.spawn(["cat", fifo], { stdout: "pipe" }));
  const text = new Response(cat.stdout).text();
  return async () => ({ exit: await exitOrKill(cat, EXIT_BOUND_MS), text: await text });
}

/** Waits until `fifo` has a reader (holdFifo refuses one without, ENXIO). */
async function heldOnceRead(fifo: string): Promise<void> {
  for (let attempt = 0; ; attempt++) {
    try {
      holdFifo(fifo);
      return;
    } catch (error) {
      if (attempt > 500) throw error;
      await Bun.sleep(10);
    }
  }
}

test("a FIFO held twice is opened once: its reader sees the document end", async () => {
  const fifo = join(dir, "twice.fifo");
  Bun.spawnSync(["mkfifo", fifo]);
  const read = reader(fifo);
  await heldOnceRead(fifo);
  holdFifo(fifo);
  await writeJson(fifo, { run: 1 });
  expect(await read()).toEqual({ exit: 0, text: `${JSON.stringify({ run: 1 }, null, 2)}\n` });
});

test("a FIFO held again after its first document is opened again for the second", async () => {
  const fifo = join(dir, "again.fifo");
  Bun.spawnSync(["mkfifo", fifo]);
  for (const run of [1, 2]) {
    const read = reader(fifo);
    await heldOnceRead(fifo);
    await writeJson(fifo, { run });
    expect(await read()).toEqual({ exit: 0, text: `${JSON.stringify({ run }, null, 2)}\n` });
  }
});

test("a write failed by a full file system is NoSpace, with its remedy", () => {
  const full = Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC" });
  const said = writeFailure("/x/results.json", full);
  expect(said).toMatchObject({ code: "NoSpace" });
  expect(said.message).toContain("no space left on device (ENOSPC): free space there");
  const other = Object.assign(new Error("EIO: i/o error, write"), { code: "EIO" });
  expect(writeFailure("/x/results.json", other)).toMatchObject({ code: "SystemCall" });
});

test("a --json that is a link to nothing yet is written through it: the link stays, its target is made", async () => {
  const link = join(dir, "dangling.json");
  const target = join(dir, "made.json");
  symlinkSync(target, link);
  await writeJson(link, { run: 4 });
  expect(lstatSync(link).isSymbolicLink()).toBe(true);
  expect(readlinkSync(link)).toBe(target);
  expect(JSON.parse(readFileSync(target, "utf8"))).toEqual({ run: 4 });
});
