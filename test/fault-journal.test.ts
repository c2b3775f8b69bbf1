/**
 * The native fault explainer (src/ffi/native/fault.c) under systemd: with stderr the journal (JOURNAL_STREAM
 * names its device and inode) each line of the explanation starts with "<3>", so journald files it as an
 * error, as src/log.ts's own error lines are; otherwise, and with the variable inherited but stderr
 * elsewhere, the lines are as before. Stood in for by a file whose device and inode the variable names.
 * The helper answers as src/journal.ts does for every value of the variable, not only the well-formed one.
 */
import { afterAll, beforeAll, beforeEach, expect } from "bun:test";
import {
  closeSync,
  fstatSync,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { nativeFaultGuard, nativeStatus } from "../src/ffi/native.ts";
import { FIXTURES, REPO, type TestPaths, testPaths } from "./helpers/paths.ts";
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
  // Undefined: no JOURNAL_STREAM at all, as outside systemd (taken out of the inherited environment).
  const { JOURNAL_STREAM: _, ...inherited } = process.env;
  const stream = journalOf(fd);
  try {
    const config = clientConfig(paths, { action: "ungranted", block: 1 });
    const child = tracked(
      Bun.spawn([process.execPath, join(FIXTURES, "toucher.ts"), JSON.stringify(config)], {
        stdout: "ignore",
        stderr: fd,
        env: stream === undefined ? inherited : { ...inherited, JOURNAL_STREAM: stream },
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

/**
 * A process with stderr the file `name` and JOURNAL_STREAM `stream` says what src/journal.ts answers, then
 * faults in a region the helper guards: whether the helper took stderr for the journal is whether its lines
 * start "<3>". Returns both answers.
 */
async function bothAnswers(name: string, stream: string): Promise<{ ts: boolean; c: boolean }> {
  const path = join(dir, name);
  const fd = openSync(path, "w");
  const script = [
    'import { writeSync } from "node:fs";',
    `import { reserve, viewOf } from ${JSON.stringify(join(REPO, "src/ffi/index.ts"))};`,
    `import { nativeFaultGuard } from ${JSON.stringify(join(REPO, "src/ffi/native.ts"))};`,
    `import { stderrIsJournal } from ${JSON.stringify(join(REPO, "src/journal.ts"))};`,
    'const base = reserve(4096, "a guarded page");',
    'nativeFaultGuard().guard(base, 4096, "journal-forms");',
    "writeSync(1, JSON.stringify(stderrIsJournal())); // written before the fault ends the process",
    "new Uint8Array(viewOf(base, 4096))[0];",
  ].join("\n");
  try {
    const child = tracked(
      Bun.spawn([process.execPath, "-e", script], {
        stdout: "pipe",
        stderr: fd,
        env: { ...process.env, JOURNAL_STREAM: stream },
      }),
    );
    const said = await new Response(child.stdout).text();
    await exitOrKill(child, EXIT_BOUND_MS);
    const lines = readFileSync(path, "utf8").split("\n");
    expect(child.signalCode, lines.join("\n")).toBe("SIGSEGV");
    const explained = lines.filter((line) => line.includes("ivsh: this process touched"));
    expect(explained.length, lines.join("\n")).toBe(1);
    return { ts: JSON.parse(said) as boolean, c: explained[0]!.startsWith("<3>") };
  } finally {
    closeSync(fd);
  }
}

// systemd writes the variable as "device:inode" in decimal. The helper parsed it with strtoull (leading
// blanks, signs, zeros, and a negative number wrapping round to the device were all taken) where
// src/journal.ts compares text (and took "device:inode:anything"): one process, two answers.
// Outside systemd (mutation round 14: stderr_is_journal answering yes without the variable): plain lines,
// never journald's "<3>", which a terminal or a log file would show as noise.
testUnless(noGuard, "with no JOURNAL_STREAM, a fault's explanation is plain: no '<3>'", async () => {
  const lines = await faultInto("unset", () => undefined);
  expect(lines.length).toBe(2);
  expect(lines[0]).toStartWith("ivsh: this process touched shared memory it holds no grant for: offset ");
  expect(lines[1]).toStartWith("ivsh: access only the bytes of a Segment you hold");
});

testUnless(noGuard, "the helper and src/journal.ts agree on every form of JOURNAL_STREAM", async () => {
  writeFileSync(join(dir, "forms"), ""); // each run's stderr: the same file, so the same device and inode
  const { dev, ino } = statSync(join(dir, "forms"), { bigint: true });
  const forms = [
    `${dev}:${ino}`,
    `${dev}:${ino}:0`,
    `${dev}:${ino}\n`,
    ` ${dev}:${ino}`,
    `+${dev}:${ino}`,
    `0${dev}:${ino}`,
    `${dev}:0${ino}`,
    `-${2n ** 64n - dev}:${ino}`,
    `${dev + 2n ** 64n}:${ino}`,
    `${dev}:`,
    `:${ino}`,
    "garbage",
  ];
  const answers: Record<string, { ts: boolean; c: boolean }> = {};
  for (const form of forms) answers[form] = await bothAnswers("forms", form);
  const expected = Object.fromEntries(
    forms.map((form, index) => [form, { ts: index === 0, c: index === 0 }]),
  );
  expect(answers).toEqual(expected);
});
