/**
 * `ivsh status` shows each transfer in progress: the channel, the sender's and the receiver's client
 * ids, the bytes sent (of the size, when the sender knows it) and the rate over the arbiter's last
 * sweep; a finished transfer is no longer listed. Sender and receiver are real `ivsh guest` processes.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { StatusReport, TransferStatus } from "../src/protocol/status-report.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EXIT_BOUND_MS, runCli } from "./helpers/processes.ts";
import { tricklingTransfer } from "./helpers/transfer.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("status-transfers");
  arbiter = await ArbiterProcess.start(paths, { lease: "2s" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

async function status(): Promise<{ report: StatusReport; text: string }> {
  const where = ["--socket", paths.socket, "--region", paths.region];
  const json = await runCli(["status", ...where, "--json"]);
  const text = await runCli(["status", ...where]);
  return { report: JSON.parse(json.stdout) as StatusReport, text: text.stdout };
}

/** Polls status until `wanted` holds of the transfer on `channel` (within the liveness bound). */
async function until(channel: string, wanted: (transfer: TransferStatus) => boolean) {
  const deadline = Date.now() + EXIT_BOUND_MS;
  for (;;) {
    const { report, text } = await status();
    const transfer = report.transfers.find((each) => each.channel === channel);
    if (transfer && wanted(transfer)) return { transfer, text };
    if (Date.now() > deadline) throw new Error(`no such transfer on '${channel}' in:\n${text}`);
    await Bun.sleep(50);
  }
}

test("a transfer under way: who sends to whom, bytes so far, a rate; gone once it ends", async () => {
  const watched = tricklingTransfer(paths, "watched");
  let exits: number[] = [];
  try {
    const { transfer, text } = await until("watched", (each) => each.bytes > 0 && each.receiver > 0);
    expect(transfer.sender).toBeGreaterThan(0);
    expect(transfer.sender).not.toBe(transfer.receiver);
    expect(transfer.state).toBe("streaming");
    expect(transfer.totalBytes).toBe(0); // a pipe: the size is not known
    expect(text).toContain(
      `channel 'watched': client #${transfer.sender} → client #${transfer.receiver}, streaming,`,
    );
    // Its slot reads by the channel's name too, not the arbiter's internal "channel:watched".
    expect(text).toMatch(/slot \d+ channel 'watched': held by/);
    // Two sweeps apart, the arbiter has a rate.
    const later = await until("watched", (each) => each.bytesPerSecond > 0);
    expect(later.transfer.bytes).toBeGreaterThanOrEqual(transfer.bytes);
  } finally {
    exits = await watched.end();
  }
  expect(exits).toEqual([0, 0]);
  expect((await status()).report.transfers).toEqual([]);
});
