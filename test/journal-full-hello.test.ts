/**
 * A hello the arbiter refuses because its --state journal's file system is full (a new session is a change
 * it must record): connect() and `ivsh guest send` said only the arbiter's own words, "Failed to record a
 * change in the state journal PATH since ...", neither that connecting failed nor to which arbiter.
 */
import { expect } from "bun:test";
import { join } from "node:path";
import { connect } from "../src/guest/index.ts";
import { smallJournals, untilRefused } from "./helpers/full-journal.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless } from "./helpers/tools.ts";
import { guest } from "./helpers/transfer.ts";

const withSmallJournal = smallJournals("lo9-journal-full-hello");

testUnless(
  cannotMount,
  "a hello refused by a full state journal says that connecting to the arbiter at its socket failed, and why",
  () =>
    withSmallJournal("small", async (journal) => {
      const { own } = journal;
      const helper = await journal.connect("helper");
      journal.fill();
      expect(await untilRefused(helper)).toBe("JournalFull");
      const refused = await connect({ socket: own.socket, region: own.region, name: "late" }).then(
        async (client) => {
          await client.close();
          return { code: "connected", message: "" };
        },
        (error: { code?: string; message: string }) => error,
      );
      expect(refused.code).toBe("JournalFull");
      // Before: "Failed to record a change in the state journal PATH since the state journal's ...".
      const said = `Failed to connect to the arbiter at ${own.socket} since it could not record the session in its state journal ${own.state}: the state journal's file system is full`;
      expect(refused.message).toStartWith(said);
      expect(refused.message).toContain("free space there");
      const input = join(own.dir, "hello.in");
      await Bun.write(input, "x");
      const sender = guest(own, ["send", input, "--channel", "jf-hello"]);
      expect(await sender.exit()).toBe(1);
      expect(await sender.stderr).toContain(said);
    }),
  60_000,
);
