/**
 * recv --out - into a pipe makes its end non-blocking while it writes (src/transfer/sink.ts, through
 * src/ffi/descriptor-flags.ts setNonBlocking), and gives the flags back as it found them once done. The
 * pipe's open file is shared: left O_NONBLOCK, the next writer of a pipeline (`{ ivsh guest recv --out -;
 * cat more; } | ...`) would get EAGAIN from a full pipe. It also enlarges the pipe's buffer (fewer hand-offs).
 * Real processes: a shell, the receiver, a sender.
 */
import { expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { PIPE_BYTES } from "../src/transfer/io.ts";
import { CLI } from "./helpers/paths.ts";
import { exitOrKill, livenessBoundMs } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { clientEnv, guest, randomFile } from "./helpers/transfer.ts";

const suite = sharedArbiter("recv-pipe-flags");
const WITHIN_MS = livenessBoundMs(5000);
const O_NONBLOCK = 0o4000;
const LIBC = join(import.meta.dir, "../src/ffi/libc.ts");

test("recv --out - into a pipe enlarges it, and leaves it blocking, as it found it, once it exits", async () => {
  const channel = "pipe-flags";
  const input = join(suite.dir, `${channel}.in`);
  await randomFile(input, 300_000);
  // A pipe of the shell's own (cat's stdin); grep's fd 3, a dup of the stdout the receiver had: its fdinfo
  // shows the flags of the open file all share.
  const flags = "grep '^flags:' /proc/self/fdinfo/3 3>&1 >&2";
  const recv = `'${process.execPath}' '${CLI}' guest recv -q --channel ${channel} --out - --timeout 30s`;
  // Its buffer's size (F_GETPIPE_SZ), through fd 3 as well: a pipe keeps the size it was given.
  const getSize = `import { libc } from '${LIBC}'; console.error('size', libc.fcntl(3, 1032, 0));`;
  const size = `'${process.execPath}' -e "${getSize}" 3>&1 >&2`;
  const shell = tracked(
    Bun.spawn(["sh", "-c", `{ ${flags}; ${recv}; echo "recv $?" >&2; ${flags}; ${size}; } | cat`], {
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1", ...clientEnv(suite.paths) },
    }),
  );
  const read = new Response(shell.stdout).arrayBuffer();
  const said = new Response(shell.stderr).text();
  const sender = guest(suite.paths, ["send", "-q", input, "--channel", channel]);
  expect([await exitOrKill(shell, WITHIN_MS), await sender.exit()]).toEqual([0, 0]);
  expect((await read).byteLength).toBe(300_000);
  const lines = (await said).trim().split("\n");
  const nonBlocking = lines
    .filter((line) => line.startsWith("flags:"))
    .map((line) => (Number.parseInt(line.slice("flags:".length).trim(), 8) & O_NONBLOCK) !== 0);
  // Before and after the receiver: blocking both times (with restoreFlags a no-op: true after).
  expect({ lines: lines.length, nonBlocking, recv: lines[1] }).toEqual({
    lines: 4,
    nonBlocking: [false, false],
    recv: "recv 0",
  });
  // Past /proc/sys/fs/pipe-max-size only root may enlarge a pipe: else it stays as large as it may be.
  const mayEnlarge =
    process.getuid?.() === 0 || Number(readFileSync("/proc/sys/fs/pipe-max-size", "utf8")) >= PIPE_BYTES;
  const enlarged = Number(lines[3]?.slice("size ".length));
  expect(enlarged).toBeGreaterThanOrEqual(mayEnlarge ? PIPE_BYTES : 4096);
}, 60_000);
