/**
 * `ivsh status` lists each transfer in progress by its ends' client ids: with one end in a VM, nothing on the
 * line said which VM (the arbiter knows each session's VM). The line names the VM of an end that is a
 * guest, and --json gives each end's VM ("host" for the host's processes). The guest end here is a real
 * `ivsh guest send` through a stand-in guestfwd running a real `ivsh bridge --vm web`.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import type { StatusReport, TransferStatus } from "../src/protocol/status-report.ts";
import { type FakeGuestfwd, socketGuestfwd } from "./helpers/guestfwd.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EXIT_BOUND_MS, runCli } from "./helpers/processes.ts";
import { tricklingTransfer } from "./helpers/transfer.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let forward: FakeGuestfwd;

beforeAll(async () => {
  paths = testPaths("status-transfer-vm");
  arbiter = await ArbiterProcess.start(paths, { lease: "2s" });
  forward = socketGuestfwd("web", paths.socket);
});
afterAll(async () => {
  forward?.stop();
  await arbiter?.stop();
  paths?.cleanup();
});

async function status(): Promise<{ report: StatusReport; text: string }> {
  const where = ["--socket", paths.socket, "--region", paths.region];
  const json = await runCli(["status", ...where, "--json"]);
  const text = await runCli(["status", ...where]);
  return { report: JSON.parse(json.stdout) as StatusReport, text: text.stdout };
}

/** Polls status until the transfer on `channel` has both ends (within the liveness bound). */
async function bothEnds(channel: string): Promise<{ transfer: TransferStatus; text: string }> {
  const deadline = Date.now() + EXIT_BOUND_MS;
  for (;;) {
    const { report, text } = await status();
    const transfer = report.transfers.find((each) => each.channel === channel);
    if (transfer && transfer.sender > 0 && transfer.receiver > 0) return { transfer, text };
    if (Date.now() > deadline) throw new Error(`no transfer with both ends on '${channel}' in:\n${text}`);
    await Bun.sleep(50);
  }
}

test("a transfer from a guest names the guest's VM, in the line and in --json", async () => {
  const watched = tricklingTransfer(paths, "from-web", ["--connect", `127.0.0.1:${forward.port}`]);
  let exits: number[] = [];
  try {
    const { transfer, text } = await bothEnds("from-web");
    expect(text).toContain(
      `channel 'from-web': client #${transfer.sender} (VM 'web') → client #${transfer.receiver}, streaming,`,
    );
    expect({ senderVm: transfer.senderVm, receiverVm: transfer.receiverVm }).toEqual({
      senderVm: "web",
      receiverVm: "host",
    });
  } finally {
    exits = await watched.end();
  }
  expect(exits).toEqual([0, 0]);
}, 90_000);
