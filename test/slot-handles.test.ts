/**
 * A client's count of its handles on a synchronisation slot (src/guest/slot-handles.ts), in-process: the
 * arbiter's hold is given up with the last handle only, and a release refused for a handle its caller keeps
 * open (a mutex whose close met a full journal) leaves that handle counted.
 */
import { expect, test } from "bun:test";
import { SlotHandles } from "../src/guest/slot-handles.ts";

test("a release refused for a kept handle counts it again: a later handle's close does not give up the hold", async () => {
  const handles = new SlotHandles();
  const releases: string[] = [];
  await handles.open(Promise.resolve({ slot: 5 }));
  const refused = handles.closing(
    5,
    async () => {
      releases.push("refused");
      throw new Error("the journal is full");
    },
    true,
  );
  await expect(refused).rejects.toThrow("the journal is full");
  // The first handle stays open (its caller keeps it); a second one opens and closes.
  await handles.open(Promise.resolve({ slot: 5 }));
  await handles.closing(5, async () => void releases.push("released"));
  expect(releases).toEqual(["refused"]);
  // The kept handle's own close gives the hold up at last.
  await handles.closing(5, async () => void releases.push("released"));
  expect(releases).toEqual(["refused", "released"]);
});
