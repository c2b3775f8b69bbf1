/**
 * Whether stderr is the journal (src/journal.ts): JOURNAL_STREAM names the stream systemd connected as
 * device:inode, and a child whose stderr was redirected still inherits it. Both must match stderr's own:
 * another stream on the journal's device (a service's process writing to another socket: sockfs is one
 * device for all of them) or one with the same inode number elsewhere is not the journal, and gets the
 * usual [ivsh] lines, where a priority prefix would be noise. Also the warning about a bad IVSH_LOG_LEVEL,
 * written before the log exists, is at warning priority in the journal. Each case is a process of its
 * own, its stderr a file standing in for the journal's stream (log.test.ts checks the match itself).
 */
import { expect, test } from "bun:test";
import { closeSync, fstatSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO } from "./helpers/paths.ts";

const LOG = JSON.stringify(join(REPO, "src/log.ts"));

/**
 * What `log.warn("careful")` writes to a stderr file whose device and inode are given to
 * `journalStream` to make JOURNAL_STREAM from, with `env` added.
 */
async function warnedWith(
  journalStream: (own: { dev: bigint; ino: bigint }, other: { dev: bigint; ino: bigint }) => string,
  env: Record<string, string> = {},
): Promise<string> {
  const dir = mkdtempSync(join(tmpdir(), "ivsh-mut13-journal-"));
  try {
    const path = join(dir, "stderr");
    const fd = openSync(path, "w");
    const other = openSync(join(dir, "other"), "w");
    const streamed = journalStream(fstatSync(fd, { bigint: true }), fstatSync(other, { bigint: true }));
    closeSync(other);
    const child = Bun.spawn([process.execPath, "-e", `import { log } from ${LOG};\nlog.warn("careful");`], {
      stdout: "ignore",
      stderr: fd,
      env: { ...process.env, NO_COLOR: "1", DEBUG: undefined, ...env, JOURNAL_STREAM: streamed },
    });
    expect(await child.exited).toBe(0);
    closeSync(fd);
    return readFileSync(path, "utf8");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test("JOURNAL_STREAM naming stderr (the control): the line has its priority", async () => {
  expect(await warnedWith((own) => `${own.dev}:${own.ino}`)).toBe("<4>WARN careful\n");
});

test("JOURNAL_STREAM naming another stream on stderr's device: the usual [ivsh] line", async () => {
  expect(await warnedWith((own, other) => `${own.dev}:${other.ino}`)).toBe("[ivsh] WARN careful\n");
});

test("JOURNAL_STREAM naming stderr's inode number on another device: the usual [ivsh] line", async () => {
  expect(await warnedWith((own) => `${own.dev + 1n}:${own.ino}`)).toBe("[ivsh] WARN careful\n");
});

test("a bad IVSH_LOG_LEVEL with stderr the journal is warned about at priority warning", async () => {
  const said = await warnedWith((own) => `${own.dev}:${own.ino}`, { IVSH_LOG_LEVEL: "loud" });
  expect(said.split("\n")[0]).toStartWith(
    "<4>WARN IVSH_LOG_LEVEL=loud is not one of error, warn, info, debug",
  );
  expect(said.split("\n")[1]).toBe("<4>WARN careful");
});
