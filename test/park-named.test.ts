/**
 * A lock() or wait() whose park (or taking back of its lock) failed with ConnectionLost is said in the
 * call's own words only when its client's close() caused it (src/guest/park-named.ts). A session lost
 * another way (its lease expired, the arbiter gone for good) is told as it is: "this client was closed"
 * would send the user looking for a close() they never called.
 */
import { expect, test } from "bun:test";
import { failure } from "../src/errors.ts";
import { parkNamed, relockForWait } from "../src/guest/park-named.ts";
import type { Parker } from "../src/guest/parking.ts";

const lost = () =>
  failure("ConnectionLost", "keep the session", "its lease expired (the arbiter heard nothing)");

/** A client, closing or not, whose every park fails as a lost session does (or with `failed`). */
function parking(isClosing: boolean, failed: () => Error = lost) {
  const parker = {
    park: async () => {
      throw failed();
    },
  } as unknown as Parker;
  return { parker, isClosing };
}

async function rejection(promise: Promise<unknown>): Promise<Error> {
  return promise.then(
    () => {
      throw new Error("it resolved");
    },
    (error: Error) => error,
  );
}

test("a park failed by the client's close() names the call and the close", async () => {
  const error = await rejection(parkNamed(parking(true), {} as never, 0, {} as never, "lock 'board'"));
  expect(error).toMatchObject({ code: "ConnectionLost" });
  expect(error.message).toContain("lock 'board'");
  expect(error.message).toContain("this client was closed while it waited");
});

test("a park failed by a session lost without a close is told as it is, not as a close", async () => {
  const error = await rejection(parkNamed(parking(false), {} as never, 0, {} as never, "lock 'board'"));
  expect(error).toMatchObject({ code: "ConnectionLost" });
  expect(error.message).toContain("its lease expired");
  expect(error.message).not.toContain("closed");
});

test("a park ended another way while the client closes (an interrupt) is told as it is, not as the close", async () => {
  const interrupted = () => failure("Interrupted", "lock 'board'", "it was interrupted by SIGINT");
  const error = await rejection(
    parkNamed(parking(true, interrupted), {} as never, 0, {} as never, "lock 'board'"),
  );
  // Before (any IvshError renamed while closing): ConnectionLost, "this client was closed while it waited".
  expect({ code: (error as { code?: string }).code, message: error.message }).toEqual({
    code: "Interrupted",
    message: "Failed to lock 'board' since it was interrupted by SIGINT",
  });
});

test("wait()'s taking back of its lock: renamed as the wait only while its client closes", async () => {
  const closing = await rejection(relockForWait(parking(true), "ready", async () => Promise.reject(lost())));
  expect(closing.message).toContain("wait on 'ready'");
  const notClosing = await rejection(
    relockForWait(parking(false), "ready", async () => Promise.reject(lost())),
  );
  expect(notClosing.message).not.toContain("wait on 'ready'");
  expect(notClosing.message).toContain("keep the session");
});
