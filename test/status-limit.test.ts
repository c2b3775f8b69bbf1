/**
 * `ivsh status --limit N` lists at most N of each list and says so when it left some out, for every list:
 * transfers in progress and the clients that opened a lock as much as segments and clients. The arbiter
 * runs as its own process, the transfers' ends are real `ivsh guest` processes.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import type { StatusReport } from "../src/protocol/status-report.ts";
import { ChannelReceiver } from "../src/transfer/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EXIT_BOUND_MS, runCli } from "./helpers/processes.ts";
import { tricklingTransfer } from "./helpers/transfer.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("status-limit");
  arbiter = await ArbiterProcess.start(paths, { lease: "2s" });
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

async function status(limit: string, json = false): Promise<string> {
  const result = await runCli([
    "status",
    ...["--socket", paths.socket, "--limit", limit],
    ...(json ? ["--json"] : []),
  ]);
  expect(result.exitCode).toBe(0);
  return result.stdout;
}

const transfer = (channel: string) => tricklingTransfer(paths, channel);

test("--limit cuts the transfers in progress, and says how many it left out", async () => {
  const transfers = [transfer("limited-a"), transfer("limited-b")];
  // A channel with no transfer in progress, left out by the limit too: not counted among them.
  const idleClient = await connect({ socket: paths.socket, region: paths.region, name: "idle-receiver" });
  const stopIdle = new AbortController();
  const waiting = Promise.withResolvers<void>();
  const idle = ChannelReceiver.open(idleClient, "limited-idle", {
    onWaiting: () => waiting.resolve(),
    signal: stopIdle.signal,
  }).catch(() => undefined);
  await waiting.promise; // its slot is there, with no transfer
  try {
    const deadline = Date.now() + EXIT_BOUND_MS;
    let report: StatusReport;
    do {
      report = JSON.parse(await status("100", true)) as StatusReport;
      if (Date.now() > deadline)
        throw new Error(`two transfers never in progress: ${JSON.stringify(report)}`);
      await Bun.sleep(50);
    } while (report.transfers.length < 2);
    // Totals only: the two transfers are counted, not denied.
    const totalsOnly = await status("0");
    expect(totalsOnly).not.toContain("transfers in progress (0)");
    expect(totalsOnly).toMatch(/^transfers in progress \(2\):\n {2}… 2 more \(raise --limit/m);
    // One of two: one listed, one said to be left out.
    const one = await status("1");
    expect(one).toMatch(/^transfers in progress \(2\):\n {2}channel '[^\n]*\n {2}… 1 more \(raise --limit/m);
    const oneJson = JSON.parse(await status("1", true)) as StatusReport;
    expect(oneJson.transfers).toHaveLength(1);
    expect(oneJson.totals.transfers).toBe(2);
  } finally {
    stopIdle.abort();
    await idle;
    await idleClient.close();
    for (const each of transfers) expect(await each.end()).toEqual([0, 0]);
  }
});

test("--limit cuts a lock's list of the clients that opened it, and says how many it left out", async () => {
  const clients = await Promise.all(
    [1, 2, 3].map((index) =>
      connect({ socket: paths.socket, region: paths.region, name: `opener-${index}` }),
    ),
  );
  try {
    for (const client of clients) await client.mutex("widely-opened");
    const text = await status("1");
    const line = text.split("\n").find((each) => each.includes("mutex 'widely-opened'"));
    expect(line).toMatch(/opened by #\d+ and 2 more$/);
    const json = JSON.parse(await status("1", true)) as StatusReport;
    const mutex = json.sync.find((object) => object.name === "widely-opened");
    expect(mutex?.holders).toHaveLength(1);
    expect(mutex?.holderCount).toBe(3);
  } finally {
    for (const client of clients) await client.close();
  }
});

test("a status limit cuts a segment's list of holders and a VM's list of clients, with their counts whole", async () => {
  const clients = await Promise.all(
    [1, 2, 3].map((index) =>
      connect({ socket: paths.socket, region: paths.region, name: `holder-${index}` }),
    ),
  );
  try {
    const [creator, ...others] = clients;
    const segment = await creator!.alloc(4096, { name: "widely-held", mode: "read" });
    for (const other of others) await other.open("widely-held", "read");
    // Asked of the arbiter directly: \`ivsh status\` asks for one more and cuts the lists itself.
    const json = await creator!.status(1);
    const held = json.segments.find((each) => each.name === "widely-held");
    expect(held?.holders).toHaveLength(1);
    expect(held?.holderCount).toBe(3);
    const vm = json.vms.find((each) => each.clientCount >= 3);
    expect(vm?.clients).toHaveLength(1);
    await segment.free();
  } finally {
    for (const client of clients) await client.close();
  }
});

test("lists that --limit did not cut say nothing of more", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region, name: "uncut" });
  try {
    await client.alloc(100, { name: "uncut-segment" });
    await client.mutex("uncut-lock");
    const text = await status("10");
    expect(text).toContain("uncut-segment");
    expect(text).toContain("uncut-lock");
    expect(text).not.toContain("more (raise --limit");
  } finally {
    await client.close();
  }
});

test("no integrity line shows while nothing overwritten was repaired", async () => {
  const text = await status("10");
  expect(text).toContain("arbiter");
  expect(text).not.toContain("integrity:");
});
