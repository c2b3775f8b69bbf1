/**
 * Test VMs: `scripts/qemu/launch.sh --run SCRIPT` as a process whose stdout carries the guest script's
 * JSON lines (the guest's stderr goes to launch.sh's stderr, kept for failure messages). Every VM gets
 * a name unique to this test process, since launch.sh allows one running VM per name on the host.
 */

import { afterAll, beforeAll } from "bun:test";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { REPO, type TestPaths, testPaths } from "../helpers/paths.ts";
import { type ArbiterFlags, ArbiterProcess, EventStream } from "../helpers/processes.ts";
import { toolMissing } from "../helpers/tools.ts";
import { runningReport } from "./vm-report.ts";

export const LAUNCH = join(REPO, "scripts/qemu/launch.sh");
export const BINARY = join(REPO, "dist/ivsh");
/** launch.sh stops a VM after this long, so a hung guest fails the test instead of the whole run. */
const DEFAULT_VM_TIMEOUT_S = 300;

function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  let newest = stat.mtimeMs;
  for (const entry of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, entry)));
  return newest;
}

/**
 * The guest runs dist/ivsh (launch.sh puts it in the image), so it must match the sources under test:
 * rebuild when anything it is compiled from is newer. IVSH_GUEST_BINARY (which launch.sh then uses
 * instead) means the caller chose the binary: nothing is built.
 */
export async function ensureBinary(): Promise<void> {
  if (process.env.IVSH_GUEST_BINARY) return;
  const sources = ["src", "examples", "package.json", "scripts/build.ts", "scripts/build-name.ts"].map(
    (entry) => newestMtime(join(REPO, entry)),
  );
  let built = 0;
  try {
    built = statSync(BINARY).mtimeMs;
  } catch {}
  if (built > Math.max(...sources)) return;
  const build = Bun.spawn(["npm", "run", "build"], { cwd: REPO, stdout: "pipe", stderr: "pipe" });
  const [code, out, err] = await Promise.all([
    build.exited,
    new Response(build.stdout).text(),
    new Response(build.stderr).text(),
  ]);
  if (code !== 0) throw new Error(`npm run build failed (exit ${code}):\n${out}${err}`);
}

let vmCount = 0;

/** A name no other test process uses at the same time: launch.sh refuses a second VM of one name. */
export function vmName(label: string): string {
  vmCount++;
  return `t${process.pid}-${label}${vmCount}`;
}

export interface VmOptions {
  name: string;
  /** The guest's shell script (launch.sh --run). */
  script: string;
  /** Region and arbiter socket; `region: "none"` boots without the ivshmem device. */
  paths: TestPaths;
  region?: string;
  socket?: string;
  timeoutS?: number;
  /** The host command the bridge runs as (launch.sh --ivsh); left out: dist/ivsh. */
  ivsh?: string;
  /** Extra QEMU arguments (launch.sh --qemu-arg each). */
  qemuArgs?: string[];
}

export class Vm {
  readonly events: EventStream;
  readonly stderr: Promise<string>;
  readonly exited: Promise<number>;
  /** launch.sh's stderr as it has come so far (`stderr` once it has ended): for a VM still running. */
  private stderrSoFar = "";

  private constructor(
    readonly name: string,
    readonly proc: Subprocess<"ignore", "pipe", "pipe">,
    private readonly consoleLog: string,
    private readonly socket: string,
  ) {
    this.events = new EventStream(proc.stdout);
    this.stderr = this.gather(proc.stderr);
    this.exited = proc.exited;
  }

  private async gather(stream: ReadableStream<Uint8Array>): Promise<string> {
    const decoder = new TextDecoder();
    for await (const chunk of stream) this.stderrSoFar += decoder.decode(chunk, { stream: true });
    return this.stderrSoFar;
  }

  static launch(options: VmOptions): Vm {
    // In the test's directory, so that it outlives launch.sh's own temporary one for a failure's message.
    const consoleLog = join(options.paths.dir, `${options.name}.console`);
    const socket = options.socket ?? options.paths.socket;
    const command = [
      LAUNCH,
      "--name",
      options.name,
      "--console-log",
      consoleLog,
      "--region",
      options.region ?? options.paths.region,
      "--socket",
      socket,
      ...(options.ivsh === undefined ? [] : ["--ivsh", options.ivsh]),
      ...(options.qemuArgs ?? []).flatMap((arg) => ["--qemu-arg", arg]),
      "--separate-stderr",
      "--timeout",
      String(options.timeoutS ?? DEFAULT_VM_TIMEOUT_S),
      "--run",
      options.script,
    ];
    const proc = Bun.spawn(command, {
      stdin: "ignore",
      stdout: "pipe",
      stderr: "pipe",
      env: { ...process.env, NO_COLOR: "1" },
    });
    return new Vm(options.name, proc, consoleLog, socket);
  }

  /** The guest's next JSON line with this event name; on failure the message carries the VM's stderr. */
  async next(event: string, timeoutMs: number): Promise<Record<string, unknown>> {
    try {
      return await this.events.next(event, timeoutMs);
    } catch (error) {
      throw new Error(`${this.name}: ${(error as Error).message}\n${await this.diagnostics()}`);
    }
  }

  /**
   * launch.sh's stderr (guest stderr, bridge lines, console tail) once the VM is gone; for a VM still
   * running, what it is doing (./vm-report.ts).
   */
  async diagnostics(): Promise<string> {
    const done = await Promise.race([this.exited.then(() => true), Bun.sleep(2000).then(() => false)]);
    if (!done) {
      const { name, stderrSoFar, consoleLog, socket } = this;
      return runningReport({ name, stderrSoFar, consoleLog, socket });
    }
    return `--- ${this.name} stderr ---\n${await this.stderr}`;
  }

  /** Stops the VM (launch.sh stops QEMU and cleans up on SIGTERM) and waits for it. */
  async stop(): Promise<void> {
    if (this.proc.exitCode === null) this.proc.kill("SIGTERM");
    await this.exited;
  }
}

/** Live processes of VM `name` (launch.sh's --name or QEMU's -name), by pid. */
export function vmProcesses(name: string): number[] {
  return readdirSync("/proc")
    .filter((entry) => /^\d+$/.test(entry))
    .filter((pid) => {
      try {
        const argv = readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
        return ["-name", "--name"].some(
          (flag) => argv.includes(flag) && argv[argv.indexOf(flag) + 1] === name,
        );
      } catch {
        return false; // gone meanwhile
      }
    })
    .map(Number);
}

/** Hex SHA-256 of a file on the host, to compare with the guest's `sha256sum`. */
export async function sha256File(path: string): Promise<string> {
  const hasher = new Bun.CryptoHasher("sha256");
  for await (const chunk of Bun.file(path).stream()) hasher.update(chunk);
  return hasher.digest("hex");
}

/**
 * Shell functions every guest script starts with: `report EVENT RC [FILE]` prints one JSON line with
 * the step's exit status and, given a file, its size and SHA-256.
 */
export const GUEST_PRELUDE = `
report() {
  if [ -n "\${3:-}" ] && [ -f "$3" ]; then
    printf '{"event":"%s","rc":%d,"bytes":%d,"sha256":"%s"}\\n' "$1" "$2" "$(stat -c %s "$3")" "$(sha256sum "$3" | cut -d' ' -f1)"
  else
    printf '{"event":"%s","rc":%d}\\n' "$1" "$2"
  fi
}
`;

/**
 * A test file's VMs and their arbiter: set up once QEMU is there (without it the file's tests only print
 * why they are skipped), and after the file every VM launched through `launch` stopped, then the arbiter,
 * then the directory removed. `arbiter: false`: no arbiter (a VM whose bridge is to fail).
 */
export function vmSuite(label: string, arbiter: ArbiterFlags | false = { size: "16MiB" }) {
  let paths: TestPaths | undefined;
  let process: ArbiterProcess | undefined;
  const vms: Vm[] = [];
  beforeAll(async () => {
    if (toolMissing("qemu-system-x86_64")) return;
    await ensureBinary();
    paths = testPaths(label);
    if (arbiter) process = await ArbiterProcess.start(paths, arbiter);
  }, 60_000);
  afterAll(async () => {
    for (const vm of vms) await vm.stop();
    await process?.stop();
    paths?.cleanup();
  });
  return {
    get paths(): TestPaths {
      if (!paths) throw new Error(`${label}: no VM suite (qemu-system-x86_64 is missing)`);
      return paths;
    },
    launch(options: Omit<VmOptions, "paths">): Vm {
      const vm = Vm.launch({ ...options, paths: this.paths });
      vms.push(vm);
      return vm;
    },
  };
}
