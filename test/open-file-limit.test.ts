/**
 * raiseOpenFileLimit (src/ffi/process.ts, `ivsh bench scale`'s thousands of clients): it raises the soft
 * limit as far as the hard limit lets it, and asking for more than that is no error. Run in a child that
 * lowers both its limits first (this process could not raise its hard limit back; Bun itself raises the
 * soft limit to the hard one as it starts).
 */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { childJson } from "./helpers/child-json.ts";
import { REPO } from "./helpers/paths.ts";

async function raisedUnder(soft: number, hard: number, wanted: number) {
  const module = join(REPO, "src/ffi/process.ts");
  const script = `import { dlopen, FFIType } from "bun:ffi";
import { raiseOpenFileLimit, openFileLimit } from ${JSON.stringify(module)};
const { prlimit } = dlopen("libc.so.6", {
  prlimit: { args: [FFIType.i32, FFIType.i32, FFIType.ptr, FFIType.ptr], returns: FFIType.i32 },
}).symbols;
if (prlimit(0, 7, new BigUint64Array([${soft}n, ${hard}n]), null) !== 0) throw new Error("prlimit");
const result = raiseOpenFileLimit(${wanted});
console.log(JSON.stringify({ ...result, now: openFileLimit() }));`;
  return childJson(["-e", script]);
}

test("asking for more open files than the hard limit raises the soft limit to the hard one, without an error", async () => {
  expect(await raisedUnder(256, 512, 100_000)).toEqual({ before: 256, after: 512, hard: 512, now: 512 });
});

test("asking for less than the hard limit raises the soft limit to exactly that", async () => {
  expect(await raisedUnder(256, 512, 300)).toEqual({ before: 256, after: 300, hard: 512, now: 300 });
});
