/**
 * The arbiters a benchmark runs against: `ivsh host` as its own process, on a fresh region (/dev/shm or a
 * disk file system), its journal beside it, its socket in a temporary directory; all removed when it stops.
 */
import { statfsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DEFAULT_SLOTS, defaultStatePath } from "../defaults.ts";
import { failure } from "../errors.ts";
import { SOCKET_PATH_MAX_BYTES } from "../guest/socket-name.ts";
import { HANDOVER_SUFFIX } from "../host/handover.ts";
import { socketAnswers } from "../host/listener.ts";
import { asParentOfArbiter } from "../host/parent.ts";
import { roomBeside } from "../host/setup.ts";
import { selfCommand } from "../self.ts";
import { formatBytes } from "../units.ts";
import { benchDirectory, Child, onCleanup, waitUntil } from "./child.ts";
import { MiB } from "./memory.ts";

export interface ArbiterSpec {
  readonly label: string;
  /** Directory in which the region's own temporary directory is made (default /dev/shm). */
  readonly regionParent?: string;
  /** Default 64 MiB: a power of two QEMU can map as a BAR, room for the default ring many times over. */
  readonly regionBytes?: number;
  /** Default 1 MiB. */
  readonly blockBytes?: number;
}

const SOCKET_NAME = "arbiter.sock";

/** A TMPDIR too long for the arbiter's socket path is refused up front, naming TMPDIR (not --socket). */
export function checkSocketRoom(action: string): void {
  const tmp = tmpdir();
  // As benchDirectory names it (mkdtemp's six characters), and the hand-over socket the arbiter binds beside.
  const inside = join(`ivsh-bench-sock-${process.pid}-XXXXXX`, SOCKET_NAME) + HANDOVER_SUFFIX;
  const bytes = Buffer.byteLength(join(tmp, inside));
  if (bytes <= SOCKET_PATH_MAX_BYTES) return;
  const most = SOCKET_PATH_MAX_BYTES - Buffer.byteLength(inside) - 1;
  throw failure(
    "InvalidArgument",
    action,
    `its socket goes in a directory under TMPDIR, where its path would be ${bytes} bytes, over the ` +
      `${SOCKET_PATH_MAX_BYTES} a Unix socket's path may have: TMPDIR (${tmp}) is ${Buffer.byteLength(tmp)} bytes: ` +
      `set TMPDIR to a directory of at most ${most} bytes (e.g. /tmp)`,
  );
}

export const DEFAULT_REGION_BYTES = 64 * MiB;
/** What the arbiter's journal and wake-up file take beside its region in /dev/shm (its slots: the default). */
export const ROOM_BESIDE_REGION = roomBeside(DEFAULT_SLOTS);

const READY_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;
/** How long a failure waits for an arbiter that no longer answers to be seen exited. */
const DEATH_SETTLE_MS = 2_000;
/** Long enough for a worker in a synchronous loop, or a session resuming after --scale's restart. */
const LEASE = "60s";

/**
 * Refuses, before anything runs, a region /dev/shm has no room for, advising the command's own options:
 * `smaller` lists what else would need less, advised where it fits; `needs` says what needs the room.
 */
export function checkShmRoom(
  action: string,
  bytes: number,
  smaller: { bytes: number; advice: string }[],
  needs = "its region needs",
): void {
  const { bavail, bsize } = statfsSync("/dev/shm");
  const free = bavail * bsize;
  if (bytes <= free) return;
  const fits = smaller
    .filter((option) => option.bytes <= free)
    .map((option) =>
      option.bytes > 0 ? `${option.advice} (${needs} ${formatBytes(option.bytes)})` : option.advice,
    );
  throw failure(
    "NoSpace",
    action,
    `${needs} ${formatBytes(bytes)} in /dev/shm, which has only ${formatBytes(free)} free: ` +
      `free space there (a container's /dev/shm is set by docker run --shm-size)${fits.map((text) => `, or ${text}`).join("")}`,
  );
}

export class BenchArbiter {
  private child: Child;
  /** Kills whichever arbiter process is current, should the run be interrupted. */
  private readonly forgetKill = onCleanup(() => this.child.kill("SIGKILL"));

  private constructor(
    readonly spec: ArbiterSpec,
    readonly socket: string,
    readonly region: string,
    /** The --state journal: its size is one of the scale benchmark's figures. */
    readonly statePath: string,
    private readonly command: readonly string[],
    private readonly removeDirs: () => void,
  ) {
    this.child = new Child(command, `${spec.label} arbiter`, asParentOfArbiter());
  }

  get pid(): number {
    return this.child.pid;
  }

  /**
   * SIGKILL and a start on the same region and state (a crash and a supervisor's restart); resolves once it
   * listens, with when (performance.now()) the new one started, after the old one's death.
   */
  async killAndRestart(): Promise<number> {
    this.child.kill("SIGKILL");
    await this.child.exitedWith;
    const startedMs = performance.now();
    this.child = new Child(this.command, `${this.spec.label} arbiter`, asParentOfArbiter());
    await this.ready();
    return startedMs;
  }

  /** Runs `use` with an arbiter of `spec`, started on fresh directories and stopped however `use` ends. */
  static async with<T>(spec: ArbiterSpec, use: (arbiter: BenchArbiter) => Promise<T>): Promise<T> {
    checkSocketRoom(`start the ${spec.label} arbiter`);
    const { path: socketDir, remove: removeSocket } = benchDirectory(tmpdir(), "sock");
    const { path: regionDir, remove: removeRegion } = benchDirectory(
      spec.regionParent ?? "/dev/shm",
      "region",
    );
    const removeDirs = () => {
      removeRegion();
      removeSocket();
    };
    const socket = join(socketDir, SOCKET_NAME);
    const region = join(regionDir, "region");
    // Beside the region, on tmpfs: in /tmp (a disk here) its appends waited 0.3-2.2 ms behind a compaction's
    // fsync under --scale, and every request behind them too.
    const statePath = defaultStatePath(region);
    const command = [
      ...selfCommand(),
      "host",
      "--exit-with-parent",
      ...["--region", region, "--size", String(spec.regionBytes ?? DEFAULT_REGION_BYTES)],
      ...["--block-size", String(spec.blockBytes ?? 1 * MiB)],
      ...["--socket", socket, "--state", statePath, "--lease", LEASE],
    ];
    const arbiter = new BenchArbiter(spec, socket, region, statePath, command, removeDirs);
    try {
      await arbiter.ready();
      return await use(arbiter).catch(async (error) => {
        throw await arbiter.deathOr(error);
      });
    } finally {
      await arbiter.stop();
    }
  }

  /** Stops the arbiter (SIGTERM, then SIGKILL if it lingers) and removes its files. */
  async stop(): Promise<void> {
    await this.child.stop(STOP_TIMEOUT_MS);
    this.forgetKill();
    this.removeDirs();
  }

  /**
   * `error`, unless this arbiter died under the run: then its death is the failure, not its clients'
   * "nothing listens". One that no longer answers is given a moment to be reaped.
   */
  private async deathOr(error: unknown): Promise<unknown> {
    if (!this.child.exited && !(await socketAnswers(this.socket)))
      await Promise.race([this.child.exitedWith, Bun.sleep(DEATH_SETTLE_MS)]);
    if (!this.child.exited) return error;
    const how = this.child.howItEnded(await this.child.exitedWith);
    const words = this.child.signalled ? "" : `: ${(await this.child.lastWords()) || "no output"}`;
    return failure("PeerGone", `use the ${this.child.label}`, `${how}${words}`);
  }

  /** Polls until the socket accepts a connection; an arbiter that exits instead is an error. */
  private async ready(): Promise<void> {
    const action = `start the ${this.child.label}`;
    const answers = async () => {
      if (this.child.exited) throw failure("PeerGone", action, `it exited: ${await this.child.lastWords()}`);
      return socketAnswers(this.socket);
    };
    await waitUntil(answers, `the ${this.child.label} to listen`, READY_TIMEOUT_MS, 20);
  }
}
