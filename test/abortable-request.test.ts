/**
 * abortable() (src/transfer/abortable.ts), the wait on a request to the arbiter that a command's signal
 * ends: a signal aborted before the wait began ends it too; what the request gets after the abort is given
 * back (undo), once, and a failed undo is no unhandled rejection; a request that settles first leaves no
 * listener on the signal (a library user's one signal for many transfers would gather one per request).
 * test/setup-request-interrupted.test.ts drives it through the CLI, where the process ends right after.
 */
import { expect, test } from "bun:test";
import { getEventListeners } from "node:events";
import { isIvshError } from "../src/errors.ts";
import { abortable } from "../src/transfer/abortable.ts";

function deferred<T>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((yes, no) => {
    resolve = yes;
    reject = no;
  });
  return { promise, resolve, reject };
}

const turns = async (count = 5) => {
  for (let turn = 0; turn < count; turn++) await new Promise((resolve) => setImmediate(resolve));
};

test("a signal aborted before the wait begins ends it at once, as Interrupted", async () => {
  const controller = new AbortController();
  controller.abort();
  const request = deferred<number>(); // never answered: the link is down
  const error = await abortable(request.promise, controller.signal, "open 'c'", async () => {}).catch(
    (e) => e,
  );
  expect(isIvshError(error) && error.code).toBe("Interrupted");
  expect(String(error.message)).toContain("open 'c'");
});

test("a request answered after the abort is given back, once; one that fails after it, not at all", async () => {
  const controller = new AbortController();
  const answered = deferred<string>();
  const undone: string[] = [];
  const waiting = abortable(answered.promise, controller.signal, "open 'c'", async (slot) => {
    undone.push(slot);
  });
  controller.abort();
  await expect(waiting).rejects.toThrow("open 'c'");
  answered.resolve("slot 7");
  await turns();
  expect(undone).toEqual(["slot 7"]);

  const failed = deferred<string>();
  const second = new AbortController();
  const failing = abortable(failed.promise, second.signal, "open 'd'", async (slot) => {
    undone.push(slot);
  });
  second.abort();
  await expect(failing).rejects.toThrow("open 'd'");
  failed.reject(new Error("the session is gone"));
  await turns();
  expect(undone).toEqual(["slot 7"]);
});

test("an undo that fails is swallowed: no unhandled rejection", async () => {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on("unhandledRejection", onUnhandled);
  try {
    const controller = new AbortController();
    const answered = deferred<number>();
    const waiting = abortable(answered.promise, controller.signal, "alloc", () =>
      Promise.reject(new Error("the free failed too")),
    );
    controller.abort();
    await expect(waiting).rejects.toThrow("alloc");
    answered.resolve(1);
    await turns(20);
    expect(unhandled).toEqual([]);
  } finally {
    process.off("unhandledRejection", onUnhandled);
  }
});

test("a request that settles before any abort leaves no listener on the signal, answered or failed", async () => {
  const controller = new AbortController();
  for (let round = 0; round < 3; round++) {
    await expect(abortable(Promise.resolve(round), controller.signal, "open", async () => {})).resolves.toBe(
      round,
    );
    await expect(
      abortable(Promise.reject(new Error("refused")), controller.signal, "open", async () => {}),
    ).rejects.toThrow("refused");
  }
  expect(getEventListeners(controller.signal, "abort")).toEqual([]);
});
