/**
 * A free() the arbiter refuses because its state journal is full (JournalFull): the segment is still this
 * client's, so its memory is mapped again, readable and writable as before, and a later free() with room
 * again gives it back. The mapping's protection is read from /proc/self/maps: touching memory that was
 * left withdrawn would end this test process with SIGSEGV.
 */

import { ptr } from "bun:ffi";
import { expect } from "bun:test";
import { readFileSync } from "node:fs";
import { outcome, smallJournals } from "./helpers/full-journal.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

const withSmallJournal = smallJournals("journal-refused-free");

/** The permissions ("rw-s", "---p", ...) of the mapping of this process that holds `address`. */
function protectionAt(address: number): string | undefined {
  for (const line of readFileSync("/proc/self/maps", "utf8").split("\n")) {
    const match = /^([0-9a-f]+)-([0-9a-f]+) (\S+)/.exec(line);
    if (match && Number.parseInt(match[1]!, 16) <= address && address < Number.parseInt(match[2]!, 16))
      return match[3];
  }
  return undefined;
}

testUnless(
  cannotMount,
  "a free() refused by a full journal leaves the segment held and mapped writable; with room, it frees",
  () =>
    withSmallJournal("small", async (journal) => {
      const client = await journal.connect("freer");
      const segment = await client.alloc(4096);
      segment.bytes[0] = 5;
      expect(protectionAt(ptr(segment.bytes))).toBe("rw-s");
      journal.fill();
      // The journal's last page may take a few changes yet.
      for (let index = 0; index < 200; index++)
        if ((await outcome(client.alloc(4096, { name: `room-${index}-${"x".repeat(200)}` }))) !== "ok") break;
      expect(await outcome(segment.free())).toBe("JournalFull");
      expect(protectionAt(ptr(segment.bytes))).toBe("rw-s");
      expect(segment.bytes[0]).toBe(5);
      journal.roomBack();
      expect(await outcome(segment.free())).toBe("ok");
    }),
  60_000,
);
