/**
 * An idle arbiter whose journal refused a change kept saying so (`ivsh status`'s journalOutage, systemd's
 * STATUS=PROBLEM) after the cause went away, until some change was recorded: a status poll is none, so a
 * monitor watching a quiet host saw "refusing changes" for ever. The sweep now tries a write at the
 * journal's end, cut back at once (no record a release could misread is left), and ends the outage when it
 * succeeds. Two causes: a full file system made room again (ENOSPC, which statfs could tell) and a file
 * size limit lifted (EFBIG, which statfs cannot: the file system has room all along).
 */
import { afterEach, expect } from "bun:test";
import { execFileSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { type Client, connect } from "../src/guest/index.ts";
import { outcome, smallJournals, untilRefused } from "./helpers/full-journal.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, eventually, livenessBoundMs } from "./helpers/processes.ts";
import { cannotMount } from "./helpers/small-fs.ts";
import { testUnless, testWithTool, toolMissing } from "./helpers/tools.ts";

const LEASE_MS = 1000;

/**
 * The outage stays while its cause does (the sweeps' trial writes fail), then, `lift`ed, ends with no change
 * made (`client`'s status asks make none: its session exists) and the journal at `journalPath` as it was.
 */
async function outageClearsUntouched(client: Client, journalPath: string, lift: () => void): Promise<void> {
  // A few sweeps (every 250 ms with a 1 s lease) whose trial writes fail.
  await Bun.sleep(3 * LEASE_MS);
  expect((await client.status(0)).journalOutage).toBeDefined();
  const before = readFileSync(journalPath);
  lift();
  await eventually(
    async () => (await client.status(0)).journalOutage === undefined,
    livenessBoundMs(LEASE_MS),
    "the outage to end with no change made",
  );
  expect(readFileSync(journalPath).equals(before)).toBe(true);
  // And the journal takes changes again, as the end of the outage says.
  expect(await outcome(client.mutex("after-outage").then((mutex) => mutex.close()))).toBe("ok");
}

const withSmallJournal = smallJournals("outage-clears-full");

testUnless(
  cannotMount,
  "a full journal file system given room again: the outage ends within a few sweeps, with no change",
  () =>
    withSmallJournal(
      "full",
      async (journal) => {
        const client = await journal.connect("changer");
        journal.fill();
        expect(await untilRefused(client)).toBe("JournalFull");
        await outageClearsUntouched(client, journal.own.state, journal.roomBack);
      },
      { lease: "1s" },
    ),
  60_000,
);

let paths: TestPaths | undefined;
afterEach(() => {
  paths?.cleanup();
  paths = undefined;
});

/** Sets the soft limit on the size of files `pid` writes (bytes, or "unlimited"); root may raise it again. */
function fileSizeLimit(pid: number, limit: number | "unlimited"): void {
  execFileSync("prlimit", ["--pid", String(pid), `--fsize=${limit}:unlimited`]);
}

testWithTool(
  "prlimit",
  "a journal write refused for a file size limit (EFBIG), the limit lifted: the outage ends, with no change",
  async () => {
    paths = testPaths("outage-clears-efbig");
    const arbiter = await ArbiterProcess.start(paths, { lease: "1s" });
    let client: Client | undefined;
    try {
      client = await connect({ region: paths.region, socket: paths.socket, name: "changer" });
      fileSizeLimit(arbiter.pid, statSync(paths.state).size);
      expect(await outcome(client.mutex("refused").then((mutex) => mutex.close()))).not.toBe("ok");
      await outageClearsUntouched(client, paths.state, () => fileSizeLimit(arbiter.pid, "unlimited"));
      // Ended by the trial write, not by the change after it: the log says which (mutation round 31).
      await client.close();
      await arbiter.stop();
      expect(await arbiter.spawned.stderr).toContain(
        `the state journal ${paths.state} takes changes again (a trial write at its end succeeded): 1 was refused in the `,
      );
    } finally {
      await client?.close().catch(() => {});
      await arbiter.stop().catch(() => {});
    }
  },
  60_000,
);

testWithTool(
  "prlimit",
  "room for a record but not for the trial page (a limit raised by 2 KiB): changes are still tried, and recorded",
  async () => {
    // The trial write is a page; a record is a few hundred bytes. On a full file system the last block's
    // room, or a limit raised by less than a page, takes a change but not the page. Each failed trial put
    // the changes' own try off by a second, at every sweep (4 a second here): all were refused up front.
    paths = testPaths("outage-clears-part");
    const arbiter = await ArbiterProcess.start(paths, { lease: "1s" });
    let client: Client | undefined;
    try {
      client = await connect({ region: paths.region, socket: paths.socket, name: "changer" });
      fileSizeLimit(arbiter.pid, statSync(paths.state).size);
      expect(await outcome(client.mutex("refused").then((mutex) => mutex.close()))).not.toBe("ok");
      fileSizeLimit(arbiter.pid, statSync(paths.state).size + 2048);
      const changer = client;
      await eventually(
        async () => (await outcome(changer.mutex("fits").then((mutex) => mutex.close()))) === "ok",
        livenessBoundMs(LEASE_MS),
        "a change that fits under the limit to be recorded",
      );
      expect(readFileSync(paths.state, "utf8")).toContain('"fits"');
    } finally {
      await client?.close().catch(() => {});
      await arbiter.stop().catch(() => {});
    }
  },
  60_000,
);

// Mutation round 31: the outage's reason is the last failure seen, the sweep's trial write's too. Kept as
// the first refusal's, `ivsh status` and STATUS= went on blaming a file size limit long lifted (and
// advising on it) while the journal's file system, full since, was what refused.
testUnless(
  cannotMount ?? toolMissing("prlimit"),
  "an outage whose cause changes (a size limit lifted, the file system full meanwhile): status names the new one",
  () =>
    withSmallJournal(
      "changed-cause",
      async (journal) => {
        const client = await journal.connect("changer");
        const reason = async () => (await client.status(0)).journalOutage?.error ?? "no outage";
        fileSizeLimit(journal.arbiter.pid, statSync(journal.own.state).size);
        expect(await outcome(client.mutex("refused").then((mutex) => mutex.close()))).not.toBe("ok");
        expect(await reason()).toContain("EFBIG");
        journal.fill();
        fileSizeLimit(journal.arbiter.pid, "unlimited");
        await eventually(
          async () => (await reason()).includes("ENOSPC"),
          livenessBoundMs(LEASE_MS),
          "the outage's reason to become the full file system the trial writes meet",
        );
        journal.roomBack();
        await eventually(
          async () => (await client.status(0)).journalOutage === undefined,
          livenessBoundMs(LEASE_MS),
          "the outage to end once room is made",
        );
      },
      { lease: "1s" },
    ),
  60_000,
);
