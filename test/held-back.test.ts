/**
 * A sender held back by an earlier transfer's receiver (src/transfer/held-back.ts): while it holds on, the
 * wait names it; once it has let go, the wait is for a receiver again, and a --timeout then says only that
 * (not the old receiver, which is gone from the story).
 */
import { expect, test } from "bun:test";
import { heldBackNotice } from "../src/transfer/held-back.ts";

test("the old receiver is named while it holds on, and no longer once it let go", () => {
  const what = { peer: "receiver" };
  const lines: string[] = [];
  const checks: boolean[] = [];
  const onHeldBack = heldBackNotice(what, "held", { waiting: (line) => lines.push(line) }, (isHere) =>
    checks.push(isHere()),
  );
  onHeldBack(12);
  expect(what.peer).toMatch(/^receiver \(client 12, the receiver of an earlier transfer on channel 'held'/);
  expect(lines).toEqual([
    "for client 12, the receiver of an earlier transfer on channel 'held', to let go of it (it does at its next receive, or when it closes)",
  ]);
  expect(checks).toEqual([false]);
  onHeldBack(undefined);
  expect(what.peer).toBe("receiver");
});
