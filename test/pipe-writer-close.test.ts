/**
 * PipeWriter.close() twice (a failed write closes it, and so does the transfer's clean-up): the second is
 * no close at all, as the pipe's descriptor numbers may belong to another file by then.
 */
import { expect, test } from "bun:test";
import { closeSync, fstatSync, openSync } from "node:fs";
import { PipeWriter } from "../src/ffi/splice.ts";

test("a second close() of a PipeWriter closes nothing: descriptors reusing the pipe's numbers stay open", () => {
  const pipe = new PipeWriter(4096);
  pipe.close();
  // The lowest free numbers: the two the pipe just gave back.
  const reused = [openSync("/dev/null", "r"), openSync("/dev/null", "r")];
  try {
    pipe.close();
    for (const fd of reused) expect(fstatSync(fd).isCharacterDevice()).toBe(true);
  } finally {
    for (const fd of reused) closeSync(fd);
  }
});
