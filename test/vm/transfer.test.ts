/**
 * One guest and the host, in one boot: the guest finds its IVSHMEM device and the arbiter with no
 * connection flags, moves 64 MiB each way bit-exact, and runs the report's Fig. 1 / Fig. 2 loops against
 * a host process in both directions. The host side uses --socket/--region as host processes do.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { join } from "node:path";
import { REPO, type TestPaths, testPaths } from "../helpers/paths.ts";
import { ArbiterProcess, runCli, type Spawned, spawnBun } from "../helpers/processes.ts";
import { testWithTool, toolMissing } from "../helpers/tools.ts";
import { guest, randomFile } from "../helpers/transfer.ts";
import { ensureBinary, GUEST_PRELUDE, sha256File, Vm, vmName } from "./vm.ts";

const MiB = 1 << 20;
const BYTES = 64 * MiB;
const STEP_MS = 120_000;

// Steps run in order; each prints a JSON line (see GUEST_PRELUDE) whatever its outcome, so one failure
// shows up as that step's test failing rather than as every later step timing out.
const SCRIPT = `${GUEST_PRELUDE}
ivsh example mapping-probe
ivsh guest send /etc/os-release; report readme $? /etc/os-release
head -c ${BYTES} /dev/urandom > /tmp/g2h.bin
ivsh guest send /tmp/g2h.bin --channel g2h; report g2h $? /tmp/g2h.bin
ivsh guest recv --channel h2g --out /tmp/h2g.bin; report h2g $? /tmp/h2g.bin
ivsh example fig1-writer /tmp/g2h.bin; report fig-g2h $?
ivsh example fig2-reader /tmp/fig.bin ${BYTES}; report fig-h2g $? /tmp/fig.bin
`;

let paths: TestPaths;
let arbiter: ArbiterProcess;
let vm: Vm;
let hostInput: string;
let hostInputSha = "";
const host: Record<string, Spawned> = {};

beforeAll(async () => {
  if (toolMissing("qemu-system-x86_64")) return;
  await ensureBinary();
  paths = testPaths("vm-transfer");
  arbiter = await ArbiterProcess.start(paths, { size: "64MiB" });
  hostInput = join(paths.dir, "h2g.bin");
  await randomFile(hostInput, BYTES);
  hostInputSha = await sha256File(hostInput);
  vm = Vm.launch({ name: vmName("xfer"), script: SCRIPT, paths });
  // Every host side starts now and waits for its guest peer; Fig. 1/2 use fixed names, so the host's
  // writer starts only once the host's reader is done with them.
  // The README's first VM example: the default channel, no flags in the guest.
  host.readme = guest(paths, ["recv", "--out", join(paths.dir, "os-release"), "--timeout", "5m"]);
  host.recv = guest(paths, ["recv", "--channel", "g2h", "--out", join(paths.dir, "g2h.bin")]);
  host.send = guest(paths, ["send", hostInput, "--channel", "h2g"]);
  const flags = ["--socket", paths.socket, "--region", paths.region];
  host.reader = spawnBun([
    join(REPO, "examples/fig2-reader.ts"),
    join(paths.dir, "fig.bin"),
    `${BYTES}`,
    ...flags,
  ]);
}, 60_000);

/**
 * The host's Fig. 1 writer creates the area "fig1" again, so it starts only once both ends of the first
 * Fig. loop have freed theirs: the host reader has exited and the guest has reported its writer's exit.
 * Started any earlier, its allocation could meet the old area (AlreadyExists) while the guest's reader
 * waits for a new one that never comes.
 */
function startHostWriter(): void {
  host.writer ??= spawnBun([
    join(REPO, "examples/fig1-writer.ts"),
    hostInput,
    ...["--socket", paths.socket, "--region", paths.region],
  ]);
}

afterAll(async () => {
  await vm?.stop();
  for (const spawned of Object.values(host)) spawned.proc.kill("SIGKILL");
  await arbiter?.stop();
  paths?.cleanup();
});

/** Time kept back from a step's limit to print what the other side was doing. */
const DIAGNOSE_MS = 15_000;

/**
 * When the guest's Fig. 2 reader does not finish: prints the arbiter's view of the slots (who holds, who
 * is parked where) and the host writer's stderr.
 */
async function diagnoseLoops(): Promise<void> {
  const status = await runCli(["status", "--json", "--socket", paths.socket]);
  console.error(`arbiter status while the loops hung:\n${status.stdout}${status.stderr}`);
  host.writer?.proc.kill("SIGKILL");
  if (host.writer) console.error(`host fig1-writer stderr:\n${await host.writer.stderr}`);
  await vm.stop();
  console.error(await vm.diagnostics());
}

/** A host process's exit code, or its stderr in the failure message. */
async function exitOf(spawned: Spawned | undefined, label: string): Promise<number> {
  if (!spawned) throw new Error(`${label} was never started`);
  const code = await spawned.proc.exited;
  if (code !== 0) console.error(`${label} stderr:\n${await spawned.stderr}`);
  return code;
}

testWithTool(
  "qemu-system-x86_64",
  "the guest finds its IVSHMEM device and measures resource2 and resource2_wc",
  async () => {
    const probe = await vm.next("probe", STEP_MS);
    const measured = probe.measured as { resource: string; writeBytesPerSecond: number }[];
    expect(measured.map((speed) => speed.resource)).toEqual(["resource2", "resource2_wc"]);
    for (const speed of measured) expect(speed.writeBytesPerSecond).toBeGreaterThan(0);
    expect(measured.map((speed) => speed.resource)).toContain(
      (probe.chosen as { resource: string }).resource,
    );
    console.log(`mapping probe in the guest: ${JSON.stringify(probe)}`);
  },
  STEP_MS,
);

testWithTool(
  "qemu-system-x86_64",
  "the README's example: the guest's /etc/os-release to the host on the default channel",
  async () => {
    const sent = await vm.next("readme", STEP_MS);
    expect(sent.rc).toBe(0);
    expect(await exitOf(host.readme, "host recv of os-release")).toBe(0);
    expect(await sha256File(join(paths.dir, "os-release"))).toBe(sent.sha256 as string);
    expect(await Bun.file(join(paths.dir, "os-release")).text()).toContain("ivsh test VM");
  },
  STEP_MS,
);

testWithTool(
  "qemu-system-x86_64",
  "guest → host: 64 MiB random file bit-exact, the guest using no connection flags",
  async () => {
    const sent = await vm.next("g2h", STEP_MS);
    expect(sent.rc).toBe(0);
    expect(await exitOf(host.recv, "host recv")).toBe(0);
    expect(await sha256File(join(paths.dir, "g2h.bin"))).toBe(sent.sha256 as string);
    expect(sent.bytes).toBe(BYTES);
  },
  STEP_MS,
);

testWithTool(
  "qemu-system-x86_64",
  "host → guest: 64 MiB random file bit-exact",
  async () => {
    const received = await vm.next("h2g", STEP_MS);
    expect(received.rc).toBe(0);
    expect(await exitOf(host.send, "host send")).toBe(0);
    expect(received.bytes).toBe(BYTES);
    expect(received.sha256).toBe(hostInputSha);
  },
  STEP_MS,
);

testWithTool(
  "qemu-system-x86_64",
  "Fig. 1 writer loop in the guest → Fig. 2 reader loop on the host",
  async () => {
    const written = await vm.next("fig-g2h", STEP_MS);
    const sent = await vm.next("sent", 1000);
    expect(written.rc).toBe(0);
    expect(await exitOf(host.reader, "host fig2-reader")).toBe(0);
    const received = await host.reader!.events.next("received", 1000);
    expect(received.chunks).toBe(sent.chunks as number);
    const g2h = await sha256File(join(paths.dir, "g2h.bin"));
    expect(await sha256File(join(paths.dir, "fig.bin"))).toBe(g2h);
    startHostWriter();
  },
  STEP_MS,
);

testWithTool(
  "qemu-system-x86_64",
  "Fig. 1 writer loop on the host → Fig. 2 reader loop in the guest",
  async () => {
    // Normally started by the test before, once the first loop was done; also when that test failed.
    await host.reader?.proc.exited;
    startHostWriter();
    const read = await vm.next("fig-h2g", STEP_MS - DIAGNOSE_MS).catch(async (error: unknown) => {
      await diagnoseLoops();
      throw error;
    });
    expect(read.rc).toBe(0);
    expect(await exitOf(host.writer, "host fig1-writer")).toBe(0);
    expect(read.bytes).toBe(BYTES);
    expect(read.sha256).toBe(hostInputSha);
    expect(await vm.exited).toBe(0);
  },
  STEP_MS,
);
