/**
 * A guest sender is kill -9ed mid-transfer. The host receiver must fail cleanly (non-zero exit naming the
 * cause, FILE.partial kept, no FILE) and every block the transfer used must return to the arbiter.
 *
 * The kill happens at a known point without timing guesses: the guest feeds the sender 8 MiB through a
 * pipe it keeps open, the host waits until FILE.partial holds those bytes, then sends one byte on a
 * second channel that the guest is waiting on; the guest kills the sender when that byte arrives.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fetchStatus } from "../../src/guest/inspect.ts";
import { type TestPaths, testPaths } from "../helpers/paths.ts";
import { ArbiterProcess } from "../helpers/processes.ts";
import { testWithTool, toolMissing } from "../helpers/tools.ts";
import { guest, waitForSize } from "../helpers/transfer.ts";
import { ensureBinary, GUEST_PRELUDE, Vm, vmName } from "./vm.ts";

const FED = 8 << 20;

const SCRIPT = `${GUEST_PRELUDE}
mkfifo /tmp/feed
# The writer keeps the pipe open after its 8 MiB, so the sender is mid-stream when it dies.
(head -c ${FED} /dev/urandom; sleep 600) > /tmp/feed &
feeder=$!
ivsh guest send - --channel doomed < /tmp/feed &
sender=$!
ivsh guest recv --channel go --out /tmp/go; report go $?
kill -9 $sender; wait $sender; report killed $?
kill $feeder 2>/dev/null
`;

let paths: TestPaths;
let arbiter: ArbiterProcess;
let vm: Vm;

beforeAll(async () => {
  if (toolMissing("qemu-system-x86_64")) return;
  await ensureBinary();
  paths = testPaths("vm-kill");
  arbiter = await ArbiterProcess.start(paths, { size: "64MiB", lease: "3s" });
}, 60_000);

afterAll(async () => {
  await vm?.stop();
  await arbiter?.stop();
  paths?.cleanup();
});

testWithTool(
  "qemu-system-x86_64",
  "a guest sender killed mid-transfer: the host receiver fails cleanly and the blocks come back",
  async () => {
    const out = join(paths.dir, "received.bin");
    const receiver = guest(paths, ["recv", "--channel", "doomed", "--out", out]);
    vm = Vm.launch({ name: vmName("kill"), script: SCRIPT, paths });
    await waitForSize(`${out}.partial`, FED, 120_000).catch(async (error) => {
      throw new Error(`${error}\n${await receiver.stderr}\n${await vm.diagnostics()}`);
    });
    const go = join(paths.dir, "go");
    await Bun.write(go, "!");
    const signal = guest(paths, ["send", go, "--channel", "go"]);
    expect(await signal.proc.exited).toBe(0);
    const killed = await vm.next("killed", 60_000);
    expect(killed.rc).toBe(128 + 9);

    expect(await receiver.proc.exited).toBe(1);
    const stderr = await receiver.stderr;
    expect(stderr).toMatch(/the sender \(client \d+\) died/);
    expect(stderr).toMatch(/the \d+ bytes that arrived are left in /);
    expect(stderr).toContain(`${out}.partial, unverified`);
    expect(existsSync(`${out}.partial`)).toBe(true);
    expect(existsSync(out)).toBe(false);
    expect(await vm.exited).toBe(0);

    // Everything the dead sender and the receiver held is free again (at once on close; the lease
    // bounds it otherwise), and neither is still listed as a client.
    const deadline = Date.now() + 20_000;
    let status = (await fetchStatus({ unix: paths.socket })).report;
    while (status.blocks.used > 0 && Date.now() < deadline) {
      await Bun.sleep(100);
      status = (await fetchStatus({ unix: paths.socket })).report;
    }
    expect(status.blocks.used).toBe(0);
    expect(status.segments).toEqual([]);
  },
  180_000,
);
