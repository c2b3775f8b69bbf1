/**
 * The receiver's pipe path in process (src/ffi/splice.ts, src/transfer/piped-file.ts): test/recv-piped
 * round-trips files with IVSH_RECV_SPLICE=1, which would pass as well if the pipe were never taken. Here:
 * a pipe smaller than the data (many vmsplice and splice calls) writes it bit for bit, and which sinks
 * take the pipe, by the setting.
 */

import { ptr } from "bun:ffi";
import { afterAll, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { PipeWriter } from "../src/ffi/splice.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-pipe-writer-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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
