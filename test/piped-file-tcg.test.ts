/**
 * Which receivers write through a pipe on a CPU that is QEMU's TCG (src/transfer/piped-file.ts), with
 * the CPU faked, as no CI machine is one: test/fixtures/mocked/piped-file-tcg.ts, in a `bun test` process
 * of its own (its mock of src/ffi/native.ts would reach every test file after it here).
 */
import { expect, test } from "bun:test";
import { runMockedTests } from "./helpers/mocked.ts";

test("on TCG: a new file takes the pipe with IVSH_RECV_SPLICE unset, and write(2) with IVSH_RECV_SPLICE=0", async () => {
  const said = await runMockedTests("piped-file-tcg");
  expect(said).toMatch(/ 2 pass\n 0 fail\n/);
}, 120_000);
