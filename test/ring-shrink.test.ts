/**
 * What a default ring halved at allocation says of what refused it (src/transfer/ring-shrink.ts): the
 * region (a larger --size makes room) or the quota that refused (its own flag: a larger region gives no
 * more quota). The region and client-quota cases run end to end in ring-fits-small-region.test.ts.
 */
import { expect, test } from "bun:test";
import { IvshError } from "../src/errors.ts";
import { noteShrink, ringShrink, shrunkRingNote } from "../src/transfer/ring-shrink.ts";

const refused = (code: "NoSpace" | "QuotaExceeded", reason: string) =>
  new IvshError(code, `Failed to allocate a segment since ${reason}`);

test("each refusal names what had no room and the flag that makes more", () => {
  const cases = [
    [refused("NoSpace", "only 15 of 63 blocks are free"), "the region", "--size"],
    [
      refused("QuotaExceeded", "it needs 17 blocks ... (free those it holds; or raise --client-quota)"),
      "the client's quota",
      "--client-quota",
    ],
    [
      refused("QuotaExceeded", "it needs 17 blocks ... (free those its clients hold; or raise --vm-quota)"),
      "the VM's quota",
      "--vm-quota",
    ],
  ] as const;
  for (const [error, room, flag] of cases) {
    const ring = { chunkBytes: 65536, depth: 8 };
    noteShrink(ring, 1 << 20, error);
    expect(ringShrink(ring)).toEqual({ from: 1 << 20, room, flag });
    expect(shrunkRingNote(ring, { from: 1 << 20, room, flag })).toBe(
      `a ring of 8 chunks of 64.0 KiB, not 1.00 MiB: ${room} had no room for more, so this transfer may be slower (starting the arbiter with a larger ${flag} makes room)`,
    );
  }
  expect(ringShrink({ chunkBytes: 65536, depth: 8 })).toBeUndefined();
});
