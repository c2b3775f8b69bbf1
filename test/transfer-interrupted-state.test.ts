/**
 * An end interrupted mid-transfer marks the transfer given up in the channel's slot (the sender:
 * abandoned; the receiver: dropped) before it lets go, even though the command's goodbye right after would
 * give back its ring and role anyway (run.ts: an undecided end is closed, not just released). A peer
 * stopped meanwhile (SIGSTOP) cannot end the transfer itself: without that mark the slot still read
 * "streaming", and `ivsh status` listed a transfer in progress that had ended. Real processes throughout.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { StatusReport } from "../src/protocol/status-report.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, runCli } from "./helpers/processes.ts";
import { guest, outPath, waitForSize } from "./helpers/transfer.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("rlo24-interrupted-state");
  // Far longer than the test: the stopped peer's session does not expire (which would end it too).
  arbiter = await ArbiterProcess.start(paths, { lease: "60s" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

async function transfersOn(channel: string): Promise<unknown[]> {
  const where = ["--socket", paths.socket, "--region", paths.region];
  const report = JSON.parse((await runCli(["status", ...where, "--json"])).stdout) as StatusReport;
  return report.transfers.filter((each) => each.channel === channel);
}

for (const [interrupted, stopped] of [
  ["sender", "receiver"],
  ["receiver", "sender"],
] as const)
  test(`the ${interrupted} interrupted while its ${stopped} is stopped: no transfer in progress is left listed`, async () => {
    const channel = `interrupted-${interrupted}`;
    const out = outPath(paths, `${channel}.out`);
    const receiver = guest(paths, ["recv", "--channel", channel, "--out", out]);
    const sender = guest(paths, ["send", "-", "--channel", channel]);
    const ends = { sender, receiver };
    try {
      sender.proc.stdin.write(new Uint8Array(100_000).fill(4));
      await sender.proc.stdin.flush();
      await waitForSize(`${out}.partial`, 100_000);
      expect(await transfersOn(channel)).toHaveLength(1);
      ends[stopped].proc.kill("SIGSTOP");
      ends[interrupted].proc.kill("SIGINT");
      expect(await ends[interrupted].exit()).toBe(130);
      expect(await transfersOn(channel)).toEqual([]);
    } finally {
      ends[stopped].proc.kill("SIGCONT");
      ends[stopped].proc.kill("SIGKILL");
    }
  }, 60_000);
