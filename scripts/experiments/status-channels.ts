/**
 * What a `status(0)` costs a real arbiter process as channels grow: a sender waiting for room asks one
 * about once a second (src/transfer/room-wait.ts), so a thousand of them ask a thousand a second. Channels
 * are made as the arbiter's state sees them (a `channel:NAME` slot opened, no transfer in it), then one
 * client asks `status(0)` over the socket again and again. Prints, at each channel count, the round trip
 * and the arbiter's own CPU time per status (from /proc/PID/stat), and each as a ratio to the figure with
 * no channels, measured in the same run:
 *
 *   bun scripts/experiments/status-channels.ts [statuses per step] [channel counts, comma-separated]
 *
 * BUSY=1 gives each channel a transfer in progress (a ring 'channel:NAME:1' of one 4 KiB block, its state
 * word `streaming`), as when senders wait for room because rings fill the region.
 *
 * LABEL names its places in /dev/shm and /tmp (ivsh-LABEL-*; default status-channels).
 */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../../src/guest/index.ts";
import { ChannelState, ChannelWord, ringSegmentName } from "../../src/region/layout.ts";

const ASKS = Number(process.argv[2] ?? 3000);
const COUNTS = (process.argv[3] ?? "0,1000,10000").split(",").map(Number);
const ticksPerSecond = 100; // USER_HZ on Linux

const busy = process.env.BUSY === "1";
const label = process.env.LABEL ?? "status-channels";
const shm = mkdtempSync(`/dev/shm/ivsh-${label}-`);
const dir = mkdtempSync(`/tmp/ivsh-${label}-`);
const socket = join(dir, "sock");
const region = join(shm, "region");
const cli = join(import.meta.dir, "../../src/cli.ts");
const host = Bun.spawn(
  [
    process.execPath,
    ...[cli, "host", "--exit-with-parent", "--region", region, "--socket", socket],
    ...["--state", join(dir, "state"), "--size", "64MiB", "--block-size", busy ? "4KiB" : "64KiB"],
    ...["--slots", String(Math.max(...COUNTS) + 64), "--lease", "60s"],
  ],
  { stdout: "ignore", stderr: "inherit", env: { ...process.env, IVSH_LOG_LEVEL: "error" } },
);

/** The arbiter's user + system CPU time so far, in µs. */
function cpuMicros(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return ((Number(fields[11]) + Number(fields[12])) * 1e6) / ticksPerSecond;
}

try {
  let client: Awaited<ReturnType<typeof connect>> | undefined;
  for (const deadline = Date.now() + 15_000; !client; await Bun.sleep(50)) {
    client = await connect({ socket, region, name: "status-channels" }).catch((error) => {
      if (Date.now() > deadline) throw error;
      return undefined;
    });
  }
  let made = 0;
  const rows: { channels: number; roundTrip: number; arbiter: number }[] = [];
  for (const count of COUNTS) {
    // Opened 100 at a time: one request each, as a channel end's claimRole opens its slot.
    while (made < count) {
      const batch = Array.from({ length: Math.min(100, count - made) }, async (_, index) => {
        const name = `status-channels-${made + index}`;
        const { slot } = await client.openSlot(`channel:${name}`, "channel", true);
        if (!busy) return;
        await client.alloc(4096, { name: ringSegmentName(name, 1) });
        Atomics.store(client.slotWords(slot), ChannelWord.state, ChannelState.streaming);
      });
      await Promise.all(batch);
      made += batch.length;
    }
    const total = (await client.status(0)).totals.sync;
    if (total < count) throw new Error(`the arbiter holds ${total} sync objects, not ${count}`);
    for (let warm = 0; warm < 300; warm++) await client.status(0);
    const [startMs, startCpu] = [performance.now(), cpuMicros(host.pid)];
    for (let ask = 0; ask < ASKS; ask++) await client.status(0);
    const roundTrip = ((performance.now() - startMs) * 1000) / ASKS;
    const arbiter = (cpuMicros(host.pid) - startCpu) / ASKS;
    rows.push({ channels: count, roundTrip, arbiter });
  }
  const base = rows[0]!;
  console.log("channels  round trip µs/status (ratio)  arbiter CPU µs/status (ratio)");
  for (const { channels, roundTrip, arbiter } of rows)
    console.log(
      `${String(channels).padStart(8)}  ${roundTrip.toFixed(1).padStart(10)} (${(roundTrip / base.roundTrip).toFixed(2)})` +
        `              ${arbiter.toFixed(1).padStart(8)} (${(arbiter / base.arbiter).toFixed(2)})`,
    );
  await client.close();
} finally {
  host.kill("SIGTERM");
  await host.exited;
  rmSync(shm, { recursive: true, force: true });
  rmSync(dir, { recursive: true, force: true });
}
