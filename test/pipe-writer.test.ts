/**
 * The receiver's pipe path in process (src/ffi/splice.ts, src/transfer/piped-file.ts): test/recv-piped
 * round-trips files with IVSH_RECV_SPLICE=1, which would pass as well if the pipe were never taken. Here:
 * a pipe smaller than the data (many vmsplice and splice calls) writes it bit for bit, and which sinks
 * take the pipe, by the setting.
 */

import { ptr } from "bun:ffi";
import { afterAll, afterEach, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PipeWriter } from "../src/ffi/splice.ts";
import { pipeFileWrites } from "../src/transfer/piped-file.ts";
import { Sink } from "../src/transfer/sink.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-pipe-writer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const setting = process.env.IVSH_RECV_SPLICE;
afterEach(() => {
  if (setting === undefined) delete process.env.IVSH_RECV_SPLICE;
  else process.env.IVSH_RECV_SPLICE = setting;
});

test("through a pipe of one page, 1 MiB and a bit arrive whole, in order, and no more", () => {
  const data = new Uint8Array((1 << 20) + 123).map((_, at) => (at * 7 + (at >> 12)) & 0xff);
  const path = join(dir, "paged");
  const fd = openSync(path, "w");
  const pipe = new PipeWriter(4096);
  try {
    pipe.write(fd, ptr(data), 100, "paged"); // less than the pipe
    pipe.write(fd, ptr(data) + 100, data.byteLength - 100, "paged"); // many times the pipe
  } finally {
    pipe.close();
    closeSync(fd);
  }
  const written = readFileSync(path);
  expect(written.byteLength).toBe(data.byteLength);
  expect(Buffer.compare(written, Buffer.from(data))).toBe(0);
});

test("IVSH_RECV_SPLICE=1 routes a new regular file's writes through the pipe; 0 keeps write(2)", () => {
  const open = (name: string) => Sink.open(join(dir, name));
  process.env.IVSH_RECV_SPLICE = "1";
  const sink = open("forced");
  const direct = sink.writeFile;
  const piped = pipeFileWrites(sink);
  try {
    expect(piped?.bounce.byteLength).toBe(1 << 20);
    expect(sink.writeFile).not.toBe(direct);
  } finally {
    piped?.close();
    sink.abandon();
  }
  process.env.IVSH_RECV_SPLICE = "0";
  const off = open("off");
  expect(pipeFileWrites(off)).toBeUndefined();
  off.abandon();
});

test("a descriptor it was given (perhaps O_APPEND, where splice(2) refuses) keeps write(2), even when forced", () => {
  process.env.IVSH_RECV_SPLICE = "1";
  const fd = openSync(join(dir, "given"), "a");
  const sink = Sink.open(`/dev/fd/${fd}`);
  try {
    expect(sink.type).toBe("file");
    expect(pipeFileWrites(sink)).toBeUndefined();
  } finally {
    sink.abandon(); // closes the descriptor it was given
  }
});
