/**
 * `ivsh bench --json FIFO` opens the FIFO before the run, for the write after it (src/bench/output.ts's
 * holdFifo). It was opened among the first checks: a check after it that refused the run (--out, a bad
 * --clients, the room in /dev/shm) exited with the FIFO open and closed, which handed the reader already
 * waiting there (cat, jq) the end of an empty document; `cat FIFO > results.json` made an empty file and
 * exited 0, and the next run was refused, its reader gone. A refused run leaves the reader waiting.
 */
import { afterAll, expect, test } from "bun:test";
import {
  closeSync,
  constants,
  mkdtempSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { join } from "node:path";
import { errnoOf } from "../src/ffi/errno.ts";
import { runCli } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";

const dir = mkdtempSync("/tmp/ivsh-bench-fifo-refused-");
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Until `pid` waits in its open(2) of a FIFO for a writer: the FIFO's reader from then on. */
async function inFifoOpen(pid: number): Promise<void> {
  const wchan = () => readFileSync(`/proc/${pid}/wchan`, "utf8");
  for (let tries = 0; wchan() !== "wait_for_partner"; tries++) {
    if (tries > 2000) throw new Error(`cat (pid ${pid}) never waited in its open of the FIFO: ${wchan()}`);
    await Bun.sleep(5);
  }
}

/**
 * What the FIFO's reader got after the refused run and a line written afterwards: that line alone while it
 * still waited; what the run handed it ("" for an empty document) if it had gone.
 */
async function readerAfter(fifo: string, run: () => Promise<void>): Promise<string> {
  const reader = tracked(Bun.spawn(["cat", fifo], { stdout: "pipe" }));
  const read = new Response(reader.stdout).text();
  try {
    await inFifoOpen(reader.pid);
    await run();
    let writer: number;
    try {
      writer = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (error) {
      if (errnoOf(error) !== "ENXIO") throw error;
      return `${await read}(the reader was gone)`;
    }
    writeSync(writer, "after\n");
    closeSync(writer);
    return await read;
  } finally {
    reader.kill();
  }
}

/** A TMPDIR under the test's directory (the CLI's own TMPDIR unless set). */
type Tmpdir = string | undefined;

test.each([
  [
    "--out under a file",
    "out",
    ["bench", "--quick", "--out", "FILE/figures"],
    1,
    "Failed to write --out",
    undefined as Tmpdir,
  ],
  [
    "a bad --clients",
    "clients",
    ["bench", "--scale", "--clients", "abc"],
    2,
    "Failed to parse --clients 'abc'",
    undefined as Tmpdir,
  ],
  // Its scratch directory is made after the checks, before the run: a failure there measured nothing either.
  [
    "a TMPDIR that is not there",
    "tmpdir",
    ["bench", "--quick"],
    1,
    "(ENOENT): set TMPDIR to a directory you can write",
    "missing" as Tmpdir,
  ],
] as const)(
  "bench --json FIFO refused for %s leaves the FIFO's reader waiting",
  async (_what, name, words, code, says, tmpdir) => {
    const fifo = join(dir, `${name}.fifo`);
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    const file = join(dir, `${name}.file`);
    writeFileSync(file, "");
    const got = await readerAfter(fifo, async () => {
      const { exitCode, stderr } = await runCli(
        [...words.map((word) => word.replace("FILE", file)), "--json", fifo],
        tmpdir === undefined ? {} : { TMPDIR: join(dir, tmpdir) },
      );
      expect({ exitCode, refused: stderr.includes(says) }).toEqual({ exitCode: code, refused: true });
    });
    expect(got).toBe("after\n");
  },
  30_000,
);
