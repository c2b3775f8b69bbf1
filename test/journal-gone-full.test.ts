/**
 * A state journal removed under the running arbiter (a clean-up of its directory) while its file system is
 * full. A change the journal cannot take is undone by replaying the journal into memory; read from the
 * path, which leads nowhere now, that replay was of nothing: every session and allocation was forgotten,
 * and once there was room the sweep wrote that empty state as the journal, so a restart lost them too.
 */
import { expect } from "bun:test";
import { rmSync } from "node:fs";
import { fetchStatus } from "../src/guest/inspect.ts";
import { smallJournals, untilRefused } from "./helpers/full-journal.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";

const withSmallJournal = smallJournals("journal-gone-full");

testUnless(
  cannotMount,
  "a journal removed while its file system is full: a refused change keeps every allocation",
  () =>
    withSmallJournal("small", async ({ own, connect, fill }) => {
      const client = await connect("keeper");
      await client.alloc(4096, { name: "kept" });
      fill();
      // Removed, but the arbiter's descriptor keeps its pages: the file system stays full.
      rmSync(own.state);
      // Changes that zero no block, until one the journal cannot take is refused.
      expect(await untilRefused(client, (index) => `m${index}`)).toBe("JournalFull");
      const { report } = await fetchStatus({ unix: own.socket });
      expect(report.segments.map((segment) => segment.name)).toEqual(["kept"]);
    }),
  60_000,
);
