/**
 * What `ivsh status` says of quotas must be what the arbiter enforces: a segment counts against its
 * creator's VM for as long as it lives (test/quota-restart.test.ts), so a VM whose clients all left while
 * another VM still holds its segment is charged for it, and status must show that VM and its blocks.
 */
import { expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import type { StatusReport } from "../src/protocol/status-report.ts";
import { clientConfig, eventually, runCli } from "./helpers/processes.ts";
import { rawClient } from "./helpers/raw.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

// 64 KiB blocks: the VM quota is 4 blocks.
const suite = sharedArbiter("quota-status", { lease: "10s", extra: ["--vm-quota", "256KiB"] });

/** A guest of `vm` (identified as its bridge would) that allocates `blocks` blocks named `name`. */
async function guestAllocates(vm: string, name: string, blocks: number) {
  const guest = await rawClient(suite.socket);
  guest.send("identify", 0, { vm });
  await guest.hello(`guest of ${vm}`);
  guest.send("alloc", 2, { bytes: 0, blocks, mode: 2, name });
  expect((await guest.answer(2)).kind).toBe(1); // a reply, not an error
  return guest;
}

const vmEntry = (report: StatusReport, vm: string) => report.vms.find((entry) => entry.vm === vm);
const charged = (report: StatusReport) => report.vms.reduce((sum, entry) => sum + entry.blocksAllocated, 0);

test("a VM whose clients left but whose segment another VM holds is listed with the blocks charged to it", async () => {
  const guest = await guestAllocates("vm-gone", "kept-for-host", 3);
  const host = await connect(clientConfig(suite.paths, { name: "host holder" }));
  await host.open("kept-for-host", "read");
  guest.socket.end();
  await eventually(
    async () => !(await host.status()).clients.some((client) => client.vm === "vm-gone"),
    20_000,
    "the guest's session to end",
  );
  // Its quota still counts the segment: a new client of that VM is refused for it.
  const again = await guestAllocates("vm-gone", "", 1);
  again.send("alloc", 3, { bytes: 0, blocks: 2, mode: 2, name: "" });
  expect((await again.answer(3)).kind).toBe(2); // QuotaExceeded: 3 + 1 + 2 > 4
  again.socket.end();
  await eventually(
    async () => (await host.status()).blocks.used === 3,
    20_000,
    "the second guest's session to end",
  );

  // Before, status listed only VMs with clients: 'vm-gone' was nowhere, its 3 blocks unaccounted for.
  for (let restart = 0; restart < 3; restart++) {
    const report = await host.status();
    expect(vmEntry(report, "vm-gone")).toMatchObject({ clientCount: 0, clients: [], blocksAllocated: 3 });
    expect(report.totals.vms).toBe(2);
    expect(charged(report)).toBe(report.blocks.used);
    const text = await runCli(["status", "--socket", suite.socket]);
    expect(text.stdout).toContain("VMs (2):");
    expect(text.stdout).toContain("vm-gone: 0 clients (-); 3 blocks allocated");
    if (restart === 2) break;
    // The same after a restart: its replay (the journal, then the snapshot the first restart wrote).
    await suite.arbiter.kill9();
    await suite.arbiter.restart();
  }

  // Its segment freed, the VM has neither clients nor blocks: no longer listed.
  await host.close();
  const after = await connect(clientConfig(suite.paths, { name: "after" }));
  const report = await after.status();
  expect(vmEntry(report, "vm-gone")).toBeUndefined();
  expect(report.totals.vms).toBe(1);
  expect(report.blocks.used).toBe(0);
  await after.close();
}, 120_000);
