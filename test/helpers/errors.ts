/**
 * Failures are asserted by their code first (the contract callers branch on), then by the part of the
 * message a user reads to know what to do. A message reworded keeps its code; a code changed is a break.
 */
import { expect } from "bun:test";
import { type ErrorCodeName, isIvshError } from "../../src/errors.ts";

/** `run` throws an IvshError with `code` whose message matches `message`, if given. */
export function expectFailure(run: () => unknown, code: ErrorCodeName, message?: RegExp): void {
  let thrown: unknown;
  try {
    run();
  } catch (error) {
    thrown = error;
  }
  checkFailure(thrown, code, message);
}

/** As `expectFailure`, for a promise that must reject. */
export async function expectRejection(
  promise: Promise<unknown>,
  code: ErrorCodeName,
  message?: RegExp,
): Promise<void> {
  let thrown: unknown;
  try {
    await promise;
  } catch (error) {
    thrown = error;
  }
  checkFailure(thrown, code, message);
}

function checkFailure(thrown: unknown, code: ErrorCodeName, message: RegExp | undefined): void {
  if (thrown === undefined) throw new Error(`expected a ${code} failure, nothing was thrown`);
  expect(isIvshError(thrown) ? thrown.code : `not an IvshError: ${String(thrown)}`).toBe(code);
  if (message) expect((thrown as Error).message).toMatch(message);
}
