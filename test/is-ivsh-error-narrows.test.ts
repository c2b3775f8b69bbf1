/**
 * `isIvshError(error, code)` narrows `error.code` to that code (new-user trial 36): it narrowed `error` to
 * IvshError only, so `const code: "NotFound" = error.code` after `isIvshError(error, "NotFound")` was a
 * type error, and a helper taking the one code needed a cast. tsc --noEmit (the test command's first step)
 * checks the assignments below; the run checks that the narrowing tells the truth.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect, type ErrorCodeName, isIvshError } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("is-ivsh-error-narrows");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("isIvshError with a code narrows the error's code to it; without one, to every code", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region });
  try {
    const error: unknown = await client.open("nothing-by-this-name").catch((caught: unknown) => caught);
    expect(isIvshError(error, "NotFound")).toBe(true);
    if (!isIvshError(error, "NotFound")) throw new Error("not NotFound");
    const code: "NotFound" = error.code;
    expect(code).toBe("NotFound");
    if (!isIvshError(error)) throw new Error("not an IvshError");
    const any: ErrorCodeName = error.code;
    expect(any).toBe("NotFound");
    expect(isIvshError(error, "Timeout")).toBe(false);
  } finally {
    await client.close();
  }
});
