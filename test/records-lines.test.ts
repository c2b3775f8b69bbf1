/**
 * How the journal's reader names a line that is no record (src/host/records.ts notARecord), in-process:
 * journal-damaged.test.ts restarts a real arbiter on null, a number and an unknown type.
 */
import { expect, test } from "bun:test";
import { notARecord, type StateRecord, wholeChanges } from "../src/host/records.ts";

test("an array line is no state record; a type that is not a string is said to be no type", () => {
  expect(notARecord([{ t: "epoch", epoch: 1 }])).toBe("is not a state record");
  expect(notARecord({ t: 5, epoch: 1 })).toBe("is not a state record (it has no type 't')");
  expect(notARecord({ epoch: 1 })).toBe("is not a state record (it has no type 't')");
  expect(notARecord({ t: "epoch", epoch: 1 })).toBeUndefined();
});

test("a last change short of its records is dropped whole and said to be cut; a whole one is kept", () => {
  const epoch: StateRecord = { t: "epoch", epoch: 2 };
  const end: StateRecord = { t: "session-end", clientId: 3 };
  expect(wholeChanges([epoch, { t: "tx", n: 2 }, end, epoch])).toEqual({
    records: [epoch, end, epoch],
    cut: false,
  });
  expect(wholeChanges([epoch, { t: "tx", n: 3 }, end, epoch])).toEqual({ records: [epoch], cut: true });
});
