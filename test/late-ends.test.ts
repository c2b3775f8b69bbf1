/**
 * Session ends the state journal could not record (src/host/late-ends.ts), in-process on a header page of
 * its own: listed in the region's header until recorded, then unlisted (the list has room for 248), and
 * retried only once the journal takes changes again.
 */
import { expect, test } from "bun:test";
import type { JournalOutage } from "../src/host/journal-outage.ts";
import { LateEnds } from "../src/host/late-ends.ts";
import type { EndReason } from "../src/host/oplog.ts";
import { unrecordedEnds } from "../src/host/unrecorded-ends.ts";
import { Header } from "../src/region/layout.ts";

const EPOCH = 9;

function lateEnds(takesChanges: () => boolean) {
  const header = new Int32Array(Header.probeArea >> 2);
  const ended: [number, EndReason][] = [];
  const host = {
    endSession: (clientId: number, reason: EndReason) => void ended.push([clientId, reason]),
    region: { headerWords: () => header },
    epoch: EPOCH,
  };
  const outage = { takesChanges, probeNow() {} } as unknown as JournalOutage;
  return { ends: new LateEnds(outage, host), header, ended };
}

test("an end recorded at last is unlisted from the header: the list does not fill with ends long recorded", () => {
  const { ends, header } = lateEnds(() => true);
  ends.notRecorded(5, "lease expired");
  ends.notRecorded(6, "lease expired");
  expect(unrecordedEnds(header, EPOCH)).toEqual([5, 6]);
  expect(ends.recorded(5)).toBe("lease expired");
  expect(unrecordedEnds(header, EPOCH)).toEqual([6]);
});

test("ends are retried only while the journal takes changes: not one refused write per end at every sweep", () => {
  let takes = false;
  const { ends, ended } = lateEnds(() => takes);
  ends.notRecorded(7, "lease expired");
  ends.retry();
  expect(ended).toEqual([]);
  takes = true;
  ends.retry();
  expect(ended).toEqual([[7, "lease expired"]]);
});
