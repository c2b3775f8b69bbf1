/**
 * The sweep releases, as owner-died, a lock word naming a live client that has not opened the object. It
 * must never take a lock that is rightly held: three clients lock and unlock one mutex, opening and closing
 * handles on it meanwhile, across dozens of sweeps (a 1 s lease sweeps every 250 ms); none of them may see
 * owner-died, and the arbiter must report nothing. Likewise a channel's role words, taken and given back
 * by transfer after transfer.
 */
import { expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { fetchStatus } from "../src/guest/inspect.ts";
import { ChannelReceiver, ChannelSender } from "../src/transfer/index.ts";
import { clientConfig, spawnFixture } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("lock-churn", { lease: "1s" });

test("locks taken and given back by three clients across many sweeps: never released as owner-died", async () => {
  const churners = [true, false, true].map((steady) =>
    spawnFixture("lock-churn", clientConfig(suite.paths, { mutex: "churn", ms: 8000, steady })),
  );
  try {
    for (const churner of churners) await churner.events.next("ready", 30_000);
    const { checks: before } = (await fetchStatus({ unix: suite.socket })).report.integrity;
    const done = await Promise.all(churners.map((churner) => churner.events.next("done", 60_000)));
    const { integrity } = (await fetchStatus({ unix: suite.socket })).report;
    expect(integrity.checks - before).toBeGreaterThan(10);
    expect(done.map((event) => event.odd)).toEqual([[], [], []]);
    expect(integrity.findings.map(({ what }) => what)).toEqual([]);
    for (const churner of churners) expect(await churner.exit()).toBe(0);
  } finally {
    for (const churner of churners) churner.proc.kill();
  }
}, 90_000);

test("channel transfers one after another across many sweeps: their role words are never released, bytes arrive whole", async () => {
  const [a, b] = await Promise.all(
    ["churn-send", "churn-recv"].map((name) => connect({ socket: suite.socket, region: suite.region, name })),
  );
  const { checks: before } = (await fetchStatus({ unix: suite.socket })).report.integrity;
  const until = performance.now() + 6000;
  const sizes = [1, 65535, 65536, 65537, 131071, 200000, 0, 3];
  let transfers = 0;
  while (performance.now() < until) {
    const size = sizes[transfers++ % sizes.length]!;
    const data = new Uint8Array(size).map((_, i) => (i * 31 + transfers) & 255);
    const receiving = (async () => {
      const receiver = await ChannelReceiver.open(b!, "churn", {});
      const parts: Uint8Array[] = [];
      while ((await receiver.receive((chunk) => void parts.push(chunk.slice()))) !== undefined) {}
      await receiver.close();
      return Buffer.concat(parts);
    })();
    const sender = await ChannelSender.open(a!, "churn", { chunkBytes: 65536, depth: 2 });
    for (let at = 0; at < size; at += 7000) await sender.write(data.subarray(at, at + 7000));
    await sender.finish();
    await sender.close();
    expect((await receiving).equals(Buffer.from(data))).toBe(true);
  }
  const { integrity } = (await fetchStatus({ unix: suite.socket })).report;
  expect(integrity.checks - before).toBeGreaterThan(10);
  expect(integrity.findings.map(({ what }) => what)).toEqual([]);
  await Promise.all([a!.close(), b!.close()]);
}, 90_000);
