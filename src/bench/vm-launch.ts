/** The bench's VMs boot by scripts/qemu/launch.sh; its script's stdout (workers' lines) is launch.sh's. */
import { randomBytes } from "node:crypto";
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { failure } from "../errors.ts";
import { isCompiled, selfCommand } from "../self.ts";
import { type Child, startChild } from "./child.ts";
import { type Flags, flagArgv } from "./worker-io.ts";

/** launch.sh, and the ivsh binary to put in the guest. */
export type VmTools = ReturnType<typeof checkVmPrerequisites>;

/** This run's part of its VM names (one VM per name at a time): pid and random, as containers share pids. */
export const RUN_TAG = `${process.pid}-${randomBytes(3).toString("hex")}`;

/** How a VM's bridge carries a guest's connection: hands it over to the arbiter, or relays it. */
export const BRIDGE_MODES = ["handover", "relay"] as const;
export type BridgeMode = (typeof BRIDGE_MODES)[number];

function launchScript(): string | undefined {
  const candidates = [
    fileURLToPath(new URL("../../scripts/qemu/launch.sh", import.meta.url)),
    join(dirname(dirname(process.execPath)), "scripts/qemu/launch.sh"),
    join(process.cwd(), "scripts/qemu/launch.sh"),
  ];
  return candidates.find((path) => !path.startsWith("/$bunfs") && existsSync(path));
}

/** The ivsh binary to put in the guest: this one when compiled, else dist/ivsh (or $IVSH_GUEST_BINARY). */
function guestBinary(launch: string): string {
  if (isCompiled()) return process.execPath;
  // Empty is unset, as for every IVSH_ variable (and launch.sh's ${IVSH_GUEST_BINARY:-...}).
  return process.env.IVSH_GUEST_BINARY || join(dirname(launch), "../../dist/ivsh");
}

/** The first file named `program` in a PATH directory, where Bun.which found none it may run. */
function onPathNotExecutable(program: string): string | undefined {
  // Empty entries are skipped, as Bun.which skips them: a runnable file in "." is not "not executable".
  for (const directory of (process.env.PATH ?? "").split(":").filter(Boolean)) {
    const candidate = join(directory, program);
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

/** Fails early, with what to do, when --vm cannot work here. */
export function checkVmPrerequisites() {
  const refuse = (reason: string) => failure("InvalidArgument", "measure through VMs (--vm)", reason);
  const launch = launchScript();
  if (!launch)
    throw refuse(
      "scripts/qemu/launch.sh was not found (it is in ivsh's source repository, not in the npm package: run ivsh bench from a checkout)",
    );
  // launch.sh would try to install it (apt-get) at the first boot, after minutes of host measurements.
  if (!Bun.which("qemu-system-x86_64")) {
    const unrunnable = onPathNotExecutable("qemu-system-x86_64");
    throw refuse(
      unrunnable
        ? `${unrunnable} is not executable by this user: make it so (chmod +x), or run without --vm`
        : "qemu-system-x86_64 is not on PATH: install QEMU (apt-get install qemu-system-x86), or run without --vm",
    );
  }
  const binary = guestBinary(launch);
  if (!existsSync(binary)) throw refuse(`the guest binary ${binary} does not exist (run \`npm run build\`)`);
  const help = Bun.spawnSync([binary, "bench-worker", "--help"], { stdout: "pipe", stderr: "pipe" });
  if (!help.stdout.toString().includes("bench-worker"))
    throw refuse(
      `the guest binary ${binary} has no bench-worker command (rebuild it with \`npm run build\`, or set IVSH_GUEST_BINARY)`,
    );
  return { launch, binary };
}

export interface VmSpec {
  readonly name: string;
  readonly label: string;
  /** The guest's shell script. */
  readonly run: string;
  /** More launch.sh options (--forward, --mem, ...). */
  readonly options?: readonly string[];
  /** Set: the VM's bridge runs in this mode. */
  readonly bridge?: BridgeMode;
}

/** Boots a VM against `arbiter` as one of `children`; it exits when its script ends. */
export function startVm(
  children: Child[],
  tools: VmTools,
  arbiter: { readonly region: string; readonly socket: string },
  vm: VmSpec,
): Child {
  const command = [
    tools.launch,
    ...["--name", vm.name, "--region", arbiter.region, "--socket", arbiter.socket],
    ...["--ivsh", selfCommand().join(" "), "--binary", tools.binary, "--separate-stderr"],
    ...(vm.options ?? []),
    ...["--run", vm.run],
  ];
  // The bridge reads IVSH_BRIDGE from the environment QEMU passes on to guestfwd's command.
  const env: Record<string, string> =
    vm.bridge === undefined ? {} : { IVSH_BRIDGE: vm.bridge === "relay" ? "relay" : "" };
  const child = startChild(children, command, vm.label, env);
  // launch.sh's notes that say nothing of a failure: the QEMU command line, an image already built.
  child.unsaid = /^(\S*qemu-system-\S+ -name |build-image\.sh: image up to date)/;
  return child;
}

/** A bench worker as a step of a guest's script. */
export function guestWorker(role: string, flags: Flags): string {
  return ["ivsh", "bench-worker", role, ...flagArgv(flags)].join(" ");
}
