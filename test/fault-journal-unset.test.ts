/**
 * The fault explainer (src/ffi/native/fault.c `stderr_is_journal`) with no JOURNAL_STREAM at all, as
 * outside systemd: the explanation's lines are plain ("ivsh: "), never journald's "<3>" priority, which
 * a terminal or a log file would show as noise. test/fault-journal.test.ts covers the variable set.
 */
import { afterAll, beforeAll, beforeEach, expect } from "bun:test";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { nativeFaultGuard, nativeStatus } from "../src/ffi/native.ts";
import { FIXTURES, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
const dir = mkdtempSync(join("/tmp", "ivsh-fault-journal-unset-"));

beforeAll(async () => {
  paths = testPaths("fault-journal-unset");
  arbiter = await ArbiterProcess.start(paths);
});
beforeEach(() => arbiter.revive());
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
  rmSync(dir, { recursive: true, force: true });
});

const noGuard = nativeFaultGuard()
  ? undefined
  : `the native helper that explains such faults is not loaded here (${nativeStatus().detail})`;

testUnless(noGuard, "with no JOURNAL_STREAM, a fault's explanation is plain: no '<3>'", async () => {
  const path = join(dir, "stderr");
  const fd = openSync(path, "w");
  const { JOURNAL_STREAM: _, ...env } = process.env;
  try {
    const config = clientConfig(paths, { action: "ungranted", block: 1 });
    const child = tracked(
      Bun.spawn([process.execPath, join(FIXTURES, "toucher.ts"), JSON.stringify(config)], {
        stdout: "ignore",
        stderr: fd,
        env,
      }),
    );
    await exitOrKill(child, EXIT_BOUND_MS);
    expect(child.signalCode).toBe("SIGSEGV");
  } finally {
    closeSync(fd);
  }
  const lines = readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.includes("ivsh: "));
  expect(lines.length).toBe(2);
  expect(lines[0]).toStartWith("ivsh: this process touched shared memory it holds no grant for: offset ");
  expect(lines[1]).toStartWith("ivsh: access only the bytes of a Segment you hold");
});
