/**
 * `ivsh demo`: the whole system on one machine, no VM needed. It starts an arbiter on a temporary region,
 * generates a file, moves it through ivsh between two separate processes (`ivsh guest send` and
 * `ivsh guest recv`), copies the same file over a Unix socket between two processes in the same run (the
 * stream baselines' workers of `ivsh bench`), verifies that what each receiver got is the original, and
 * removes everything it made, also when interrupted.
 *
 * The receivers discard the data after checking it: writing a fresh 1 GiB output file costs more here than
 * either transport (new pages of this VM come from its hypervisor at ~1.5 GB/s), and would hide the
 * difference the demo is about.
 */
import { rmSync, statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  BenchArbiter,
  checkShmRoom,
  checkSocketRoom,
  DEFAULT_REGION_BYTES,
  ROOM_BESIDE_REGION,
} from "../bench/arbiter.ts";
import { onCleanup, pidDirectory, stopAllChildren } from "../bench/child.ts";
import { startIvsh, writeRandom } from "../bench/end-to-end.ts";
import { streamBetweenWorkers } from "../bench/stream.ts";
import { finalEvents, numberField } from "../bench/worker-io.ts";
import { failure, throwIfAborted } from "../errors.ts";
import { selfCommand } from "../self.ts";
import { StreamDigest } from "../transfer/digest.ts";
import { formatBytes } from "../units.ts";

export interface DemoOptions {
  bytes: number;
  rounds: number;
  signal?: AbortSignal;
  /** Progress notes for the user. */
  note(message: string): void;
}

export interface MethodResult {
  method: "ivsh" | "unix socket";
  bytes: number;
  seconds: number[];
  digest?: string;
}

/** What the original file's checks must come out as. */
interface FileChecks {
  /** The channel digest of the file sent as 1 MiB records (ivsh's default chunk size). */
  xxh3: string;
  crc32: number;
}

/** The socket copy reads and writes 1 MiB at a time, as a program without ivsh typically would. */
const SOCKET_CHUNK_BYTES = 1 << 20;

/** How long a child may take to end on SIGTERM before it is killed: an interrupted demo ends promptly. */
const CHILD_GRACE_MS = 1000;

/** How long a failure waits for this process's own stop signal, before it is reported as a failure. */
const SIGNAL_SETTLE_MS = 200;

interface Workspace {
  dir: string;
  shmDir: string;
  input: string;
  /** IVSH_SOCKET and IVSH_REGION of the demo's arbiter, for the ivsh processes. */
  env: Record<string, string>;
  signal?: AbortSignal;
}

/** The demo arbiter's region: 64 MiB holds the default ring (8 x 1 MiB) many times over. */
const REGION_BYTES = DEFAULT_REGION_BYTES;
const MIB = 1 << 20;
/** Less than a mebibyte moves in less time than a process takes to start: no rate worth comparing. */
export const LEAST_DEMO_BYTES = MIB;

export async function runDemo(options: DemoOptions) {
  checkRoom(options.bytes);
  // Before the file is made: its arbiter is the demo's last step to start.
  checkSocketRoom("start the demo arbiter");
  const workspace = createWorkspace(options.signal);
  // Also removed by a second stop signal, which ends the demo before its unwinding gets here.
  const removeWorkspace = () => {
    rmSync(workspace.dir, { recursive: true, force: true });
    rmSync(workspace.shmDir, { recursive: true, force: true });
  };
  const forgetWorkspace = onCleanup(removeWorkspace);
  // SIGKILL after the grace: a child that the signal caught while it was starting can miss the SIGTERM.
  const stopChildren = () => void stopAllChildren(CHILD_GRACE_MS);
  options.signal?.addEventListener("abort", stopChildren);
  try {
    options.note(`generating a ${formatBytes(options.bytes)} file in ${workspace.shmDir}`);
    const checks = await generateFile(workspace.input, options.bytes, options.signal);
    const spec = {
      label: "demo",
      regionParent: workspace.shmDir,
      regionBytes: REGION_BYTES,
      blockBytes: 64 << 10,
    };
    return await BenchArbiter.with(spec, async (arbiter) => {
      workspace.env = { IVSH_SOCKET: arbiter.socket, IVSH_REGION: arbiter.region };
      const ivsh: MethodResult = { method: "ivsh", bytes: options.bytes, seconds: [] };
      const socket: MethodResult = { method: "unix socket", bytes: options.bytes, seconds: [] };
      for (let round = 1; round <= options.rounds; round++) {
        // Alternate the order so neither method always runs on a warmer machine.
        const order = round % 2 === 1 ? [runIvsh, runSocket] : [runSocket, runIvsh];
        for (const run of order) {
          throwIfAborted(options.signal, "run the demo");
          const measured = await run(workspace, checks);
          const target = run === runIvsh ? ivsh : socket;
          target.seconds.push(measured.seconds);
          if ("digest" in measured) target.digest = String(measured.digest);
          options.note(
            `round ${round}: ${target.method} ${(options.bytes / measured.seconds / 1e9).toFixed(2)} GB/s`,
          );
        }
      }
      return { ivsh, socket };
    });
  } catch (error) {
    // Interrupting kills the children; their deaths are not the story, the interruption is. A Ctrl-C
    // reaches the whole process group: a child can die of it before this process has handled its own.
    if (options.signal && !options.signal.aborted) await Bun.sleep(SIGNAL_SETTLE_MS);
    throwIfAborted(options.signal, "run the demo");
    throw error;
  } finally {
    options.signal?.removeEventListener("abort", stopChildren);
    await stopAllChildren(CHILD_GRACE_MS);
    forgetWorkspace();
    removeWorkspace();
  }
}

/**
 * The file and the region both live in /dev/shm: a --size past its free space filled it (and everyone
 * else's use of it) before failing with raw ENOSPC traces, or minutes later for a huge size.
 */
function checkRoom(bytes: number): void {
  const needs = `the file and a ${formatBytes(REGION_BYTES)} region need`;
  const action = `generate a ${formatBytes(bytes)} file in /dev/shm`;
  // A smaller --size helps only if the region and the least file fit: on Docker's 64 MiB /dev/shm
  // "pass a smaller --size" was advised, and --size 1MiB failed the same way. Said with the size that fits,
  // in whole MiB as --size takes it: formatBytes rounds ("1.01 GiB" for 1030 MiB, refused and too big).
  const { bavail, bsize } = statfsSync("/dev/shm");
  // As checkShmRoom counts: the file, the region and the arbiter's files beside it (its start refuses a
  // region whose holes and those files its file system cannot hold: 64 MiB free took no 1 MiB demo).
  const region = REGION_BYTES + ROOM_BESIDE_REGION;
  const largest = Math.floor((bavail * bsize - region) / MIB) * MIB;
  const smaller =
    largest >= LEAST_DEMO_BYTES
      ? [{ bytes: 0, advice: `pass a smaller --size (${largest / MIB}MiB fits)` }]
      : [];
  checkShmRoom(action, bytes + region, smaller, needs);
}

/**
 * The socket copy's directory under TMPDIR (it was always /tmp), and the files' in RAM (/dev/shm, like the
 * region: a disk would measure itself, not the transport). Named ivsh-demo-PID-XXXXXX, as the bench's
 * are: what a killed demo leaves says which process left it, and a test tells its demo's from another's.
 */
function createWorkspace(signal: AbortSignal | undefined): Workspace {
  const dir = pidDirectory(tmpdir(), "ivsh-demo");
  try {
    const shmDir = pidDirectory("/dev/shm", "ivsh-demo");
    return { dir, shmDir, input: join(shmDir, "input.bin"), env: {}, signal };
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
}

/**
 * Random content (as the benchmark's end-to-end rows send), and its checks computed while it is written.
 * An interruption stops it at the next MiB: it wrote the whole file first (4 s at 6 GiB).
 */
async function generateFile(path: string, bytes: number, signal?: AbortSignal): Promise<FileChecks> {
  const digest = new StreamDigest();
  let crc32 = 0;
  await writeRandom(path, bytes, (piece) => {
    throwIfAborted(signal, "generate the demo's file");
    digest.update(piece);
    crc32 = Bun.hash.crc32(piece, crc32);
  });
  return { xxh3: digest.hex, crc32 };
}

/** ivsh verifies its own end-to-end digest; on top, that digest must be the original file's. */
async function runIvsh(
  workspace: Workspace,
  checks: FileChecks,
): Promise<{ seconds: number; digest: string }> {
  // Checked and started in one synchronous step: a child started once the abort has killed the others
  // would be left running, waiting for the arbiter that was killed with them.
  throwIfAborted(workspace.signal, "run the demo");
  const command = [selfCommand(), { NO_COLOR: "1", ...workspace.env }] as const;
  const files = [workspace.input, "/dev/null"] as const;
  const [receiver, sender] = startIvsh([], command, files, ["--channel", "demo", "--json"]);
  const [received] = await finalEvents([receiver], [sender]);
  if (received.digest !== checks.xxh3)
    throw failure(
      "DigestMismatch",
      "check what ivsh delivered",
      `its digest ${received.digest} is not the file's ${checks.xxh3}`,
    );
  return { seconds: Number(received.seconds), digest: String(received.digest) };
}

/** The same copy over a Unix socket, by the stream baselines' workers (src/bench/stream.ts). */
async function runSocket(workspace: Workspace, checks: FileChecks): Promise<{ seconds: number }> {
  const address = join(workspace.dir, "copy.sock");
  const copy = {
    transport: "unix",
    address,
    bytes: 0,
    chunk: SOCKET_CHUNK_BYTES,
    file: workspace.input,
  } as const;
  const received = await streamBetweenWorkers(copy);
  if (numberField(received, "crc32") !== checks.crc32)
    throw failure("DigestMismatch", "check what the Unix socket delivered", "its CRC-32 is not the file's");
  return { seconds: numberField(received, "seconds") };
}
