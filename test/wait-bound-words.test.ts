/**
 * How a lock()'s or wait()'s bound of the wrong kind, from a caller without types, is named in its refusal
 * (src/guest/wait-options.ts): each kind of value as itself, so the caller sees what it passed. Checked on
 * waitBound, which lock(), acquire() and wait() call with their argument as given (test/untyped-callers.test.ts
 * and test/wait-bound-edges.test.ts go through a real arbiter).
 */
import { expect, test } from "bun:test";
import { waitBound } from "../src/guest/wait-options.ts";

/** The refusal of `timeout`, as its code and message. */
function refusal(timeout: unknown): { code?: string; message: string } {
  try {
    waitBound(timeout, "lock 'board'");
  } catch (error) {
    return { code: (error as { code?: string }).code, message: (error as Error).message };
  }
  throw new Error("it was taken");
}

const NOT_MS = "is not a number of milliseconds ≥ 0 (leave it out to wait for ever)";

test("null, as the bound or its timeoutMs, is refused naming null", () => {
  // Before (null read as options): "null is not an object (evaluating 'Object.keys(timeout)')", no code.
  expect(refusal(null)).toEqual({
    code: "InvalidArgument",
    message: `Failed to lock 'board' since its timeout null ${NOT_MS}`,
  });
  expect(refusal({ timeoutMs: null }).message).toBe(
    `Failed to lock 'board' since its timeout null ${NOT_MS}`,
  );
});

test("an array, an object or a symbol as timeoutMs is named as such", () => {
  expect(refusal({ timeoutMs: [100] }).message).toBe(
    `Failed to lock 'board' since its timeout (an array) ${NOT_MS}`,
  );
  expect(refusal({ timeoutMs: { ms: 100 } }).message).toBe(
    `Failed to lock 'board' since its timeout (an object) ${NOT_MS}`,
  );
  expect(refusal({ timeoutMs: Symbol("soon") }).message).toBe(
    `Failed to lock 'board' since its timeout Symbol(soon) ${NOT_MS}`,
  );
});

test("fields it does not take are listed, each cut to 40 characters", () => {
  const long = "x".repeat(100);
  expect(refusal({ [long]: 1, timeout: 2, signal: undefined }).message).toBe(
    `Failed to lock 'board' since its options hold '${"x".repeat(40)}', 'timeout', which it does not take (timeoutMs, signal only)`,
  );
});

test("a BigInt, as the bound or its timeoutMs, is refused as any other non-number, not a TypeError", () => {
  // Before: TypeError "JSON.stringify cannot serialize BigInt.", no code, from lock(100n).
  expect(refusal(100n)).toEqual({
    code: "InvalidArgument",
    message: `Failed to lock 'board' since its timeout 100n ${NOT_MS}`,
  });
  expect(refusal({ timeoutMs: 100n }).message).toBe(
    `Failed to lock 'board' since its timeout 100n ${NOT_MS}`,
  );
});
