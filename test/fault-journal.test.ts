/**
 * The native fault explainer (src/ffi/native/fault.c) under systemd: with stderr the journal (JOURNAL_STREAM
 * names its device and inode) each line of the explanation starts with "<3>", so journald files it as an
 * error, as src/log.ts's own error lines are; otherwise, and with the variable inherited but stderr
 * elsewhere, the lines are as before. Stood in for by a file whose device and inode the variable names.
 */
import { afterAll, beforeAll, beforeEach, expect } from "bun:test";
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nativeFaultGuard, nativeStatus } from "../src/ffi/native.ts";
import { FIXTURES, type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { testUnless } from "./helpers/tools.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
const dir = mkdtempSync(join(tmpdir(), "ivsh-fault-journal-"));

beforeAll(async () => {
  paths = testPaths("fault-journal");
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

/** The toucher fixture reading a block it holds no grant for, its stderr the file `name` in `dir`. */
async function faultInto(name: string, journalOf: (fd: number) => string | undefined): Promise<string[]> {
  const path = join(dir, name);
  const fd = openSync(path, "w");
  try {
    const config = clientConfig(paths, { action: "ungranted", block: 1 });
    const child = tracked(
      Bun.spawn([process.execPath, join(FIXTURES, "toucher.ts"), JSON.stringify(config)], {
        stdout: "ignore",
        stderr: fd,
        env: { ...process.env, JOURNAL_STREAM: journalOf(fd) },
      }),
    );
    await exitOrKill(child, EXIT_BOUND_MS);
    expect(child.signalCode).toBe("SIGSEGV");
  } finally {
    closeSync(fd);
  }
  return readFileSync(path, "utf8")
    .split("\n")
    .filter((line) => line.includes("ivsh: "));
}

testUnless(
  noGuard,
  "with stderr the journal, each line of a fault's explanation is an error (<3>)",
  async () => {
    const lines = await faultInto("journal", (fd) => {
      const { dev, ino } = fstatSync(fd, { bigint: true });
      return `${dev}:${ino}`;
    });
    expect(lines.length).toBe(2);
    expect(lines[0]).toStartWith(
      "<3>ivsh: this process touched shared memory it holds no grant for: offset ",
    );
    expect(lines[1]).toStartWith("<3>ivsh: access only the bytes of a Segment you hold");
  },
);

testUnless(noGuard, "with JOURNAL_STREAM naming another stream, the explanation is as before", async () => {
  const lines = await faultInto("elsewhere", () => "1:2");
  expect(lines.length).toBe(2);
  expect(lines[0]).toStartWith("ivsh: this process touched shared memory it holds no grant for: offset ");
  expect(lines[1]).toStartWith("ivsh: access only the bytes of a Segment you hold");
});
