/**
 * The pipe a PipeWriter (src/ffi/splice.ts) writes a file through: both ends close-on-exec, as every
 * descriptor ivsh opens is (a program a library user starts must not inherit, and hold open, a pipe full
 * of our pages), and enlarged to the size asked for, so a 1 MiB chunk goes in one vmsplice and one splice
 * instead of sixteen of the default 64 KiB. Read from /proc/self/fdinfo and fcntl(F_GETPIPE_SZ).
 */
import { expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { libc } from "../src/ffi/libc.ts";
import { PipeWriter } from "../src/ffi/splice.ts";
import { pipeFileWrites } from "../src/transfer/piped-file.ts";
import { Sink } from "../src/transfer/sink.ts";

const F_GETPIPE_SZ = 1032;
const O_CLOEXEC = 0o2000000;

function pipeDescriptors(): Set<number> {
  const found = new Set<number>();
  for (const name of readdirSync("/proc/self/fd")) {
    try {
      if (readlinkSync(`/proc/self/fd/${name}`).startsWith("pipe:")) found.add(Number(name));
    } catch {
      // closed meanwhile (the listing's own descriptor)
    }
  }
  return found;
}

/** The two ends of a new PipeWriter's pipe: the pipe descriptors that were not there before it. */
function endsOf(make: () => PipeWriter): { pipe: PipeWriter; ends: number[] } {
  const before = pipeDescriptors();
  const pipe = make();
  const ends = [...pipeDescriptors()].filter((fd) => !before.has(fd));
  return { pipe, ends };
}

const fdFlags = (fd: number) =>
  Number.parseInt(/^flags:\s*([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, "utf8"))![1]!, 8);

test("both ends of the pipe are close-on-exec", () => {
  const { pipe, ends } = endsOf(() => new PipeWriter(4096));
  try {
    expect(ends.length).toBe(2);
    for (const fd of ends)
      expect({ fd, cloexec: (fdFlags(fd) & O_CLOEXEC) !== 0 }).toEqual({ fd, cloexec: true });
  } finally {
    pipe.close();
  }
});

test("the pipe is as large as asked for (256 KiB), not the default 64 KiB; close() lets both ends go", () => {
  const { pipe, ends } = endsOf(() => new PipeWriter(256 << 10));
  try {
    expect(ends.length).toBe(2);
    for (const fd of ends) expect(libc.fcntl(fd, F_GETPIPE_SZ, 0)).toBe(256 << 10);
  } finally {
    pipe.close();
  }
  const left = pipeDescriptors();
  expect(ends.filter((fd) => left.has(fd))).toEqual([]);
});

test("a receiver's piped file, once closed, holds no pipe: a library user receiving file after file keeps none", () => {
  const setting = process.env.IVSH_RECV_SPLICE;
  process.env.IVSH_RECV_SPLICE = "1";
  const dir = mkdtempSync(join(tmpdir(), "ivsh-pipe-descriptors-"));
  try {
    const before = pipeDescriptors();
    for (const name of ["one", "two", "three"]) {
      const sink = Sink.open(join(dir, name));
      const piped = pipeFileWrites(sink);
      expect(piped).toBeDefined();
      piped?.close();
      sink.abandon();
    }
    expect([...pipeDescriptors()].filter((fd) => !before.has(fd))).toEqual([]);
  } finally {
    if (setting === undefined) delete process.env.IVSH_RECV_SPLICE;
    else process.env.IVSH_RECV_SPLICE = setting;
    rmSync(dir, { recursive: true, force: true });
  }
});
