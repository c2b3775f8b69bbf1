/**
 * Where a client finds the region and the arbiter. An explicit region path wins; otherwise a guest uses
 * its IVSHMEM device (through whichever of resource2 / resource2_wc measures faster) and reaches the
 * arbiter over TCP through its bridge; otherwise it is a host process using the default region file and
 * Unix socket.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { DEFAULT_GUEST_ARBITER, DEFAULT_REGION, DEFAULT_SOCKET, DEFAULT_SYSFS } from "../defaults.ts";
import { failure, isIvshError, libraryForm, throwIfAborted } from "../errors.ts";
import { MAX_NAME_BYTES } from "../protocol/messages.ts";
import { touchScratch } from "../region/header.ts";
import { type MappedRegion, mapRegionHeader } from "../region/mapping.ts";
import { shellWord } from "../units.ts";
import { checkConnectOptions } from "./arguments.ts";
import { findIvshmemDevices, type IvshmemDevice, notSysfs } from "./device.ts";
import { deviceAddress } from "./device-mismatch.ts";
import { fetchStatus } from "./inspect.ts";
import { QueueFull, refusedAccess } from "./link-errors.ts";
import { type MappingProbe, probeDevice, type ResourceName } from "./probe.ts";
import { refuseAbstractSocket } from "./socket-name.ts";
import type { Endpoint } from "./transport.ts";

/** ConnectOptions.reconnectTimeoutMs when not given. */
export const DEFAULT_RECONNECT_TIMEOUT_MS = 30_000;

/**
 * Where `connect()` finds the arbiter and the region. What is left out comes from IVSH_SOCKET /
 * IVSH_REGION / IVSH_CONNECT, else the defaults: /tmp/ivsh.sock and /dev/shm/ivsh, or in a VM its IVSHMEM
 * device and 10.0.2.100:7777.
 */
export interface ConnectOptions {
  /** Unix socket of the arbiter (host processes). */
  socket?: string;
  /** "host:port" of the arbiter's bridge (guests; default 10.0.2.100:7777 when a device is found, or `region` is a device's resource file). */
  tcp?: string;
  /** Region file (host) or PCI resource file to map; default: the IVSHMEM device, else /dev/shm/ivsh. */
  region?: string;
  /** sysfs root to look for the device under (tests point this at a fake tree). */
  sysfsRoot?: string;
  /** Which BAR 2 mapping of the device to use; by default both are measured and the faster is used. */
  resource?: ResourceName;
  /** Shown in `ivsh status`. */
  name?: string;
  /**
   * How long to keep trying to reach a restarted arbiter before giving up; also how long a hello may go
   * unanswered (an arbiter that is stopped still accepts connections) before connecting fails, and how
   * long a connected arbiter may answer nothing (at least a lease) before the session is given up.
   */
  reconnectTimeoutMs?: number;
  /**
   * How long connect() itself keeps trying, unanswered hellos included (default: reconnectTimeoutMs):
   * a command told to give up after a while (`--timeout`) should not first wait 30 s for a stopped arbiter.
   * A guest's TCP connect may go unanswered that long too (3 s at least): through a VM's guestfwd on a
   * loaded host, its SYN's answer can take seconds.
   * Within it too, a session that expired before connect() returned it (this process stopped or starved
   * past the lease right after its hello) is replaced by a new one: nothing was held in it.
   */
  connectTimeoutMs?: number;
  /** Ends `connect()`'s attempts (an Interrupted error) when aborted, e.g. on Ctrl-C. */
  signal?: AbortSignal;
  /**
   * Park mutex and condvar waiters on this kernel's futex (wake-ups between processes of one kernel skip
   * the arbiter) rather than always in the arbiter. Default true; IVSH_FUTEX=0 turns it off.
   */
  futexParking?: boolean;
}

/**
 * The hello's client name, for display only (the script's path unless given): a cut through a character
 * made of two UTF-16 units is mended, not refused. The arbiter cuts it to MAX_NAME_BYTES; cut to as many
 * units here first, for one past the wire's frame limit failed connect() ("encode op 1").
 */
export function clientNameOf(name: string | undefined): string {
  return (name ?? process.argv.slice(1, 3).join(" ").slice(-64)).slice(0, MAX_NAME_BYTES).toWellFormed();
}

/**
 * The options as given, with what they leave out taken from the environment, as the CLI does:
 * IVSH_SOCKET, IVSH_REGION and IVSH_CONNECT (host:port). An option passed explicitly always wins: a
 * `socket` or `tcp` given rules out both IVSH_SOCKET and IVSH_CONNECT (IVSH_SOCKET wins between those).
 */
export function withEnvironment(
  options: ConnectOptions,
  env: Record<string, string | undefined> = process.env,
): ConnectOptions {
  // An empty one would quietly mean the default: a caller that built it from an unset variable is told.
  for (const key of ["socket", "region", "tcp"] as const)
    if (options[key] === "")
      throw failure(
        "InvalidArgument",
        "connect to the arbiter",
        `the ${key} option is empty (leave it out for the default)`,
      );
  const resolved = { ...options };
  const region = options.region ?? env.IVSH_REGION;
  if (region) resolved.region = region;
  // Where the arbiter is, socket or address, is one choice: one given explicitly rules out both variables.
  if (!options.socket && !options.tcp) {
    if (env.IVSH_SOCKET) resolved.socket = env.IVSH_SOCKET;
    else if (env.IVSH_CONNECT) resolved.tcp = env.IVSH_CONNECT;
  }
  if (resolved.socket) refuseAbstractSocket(resolved.socket, "connect to the arbiter");
  return resolved;
}

export function parseHostPort(text: string): { hostname: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[2]);
  if (!match || port < 1 || port > 65535)
    throw failure(
      "InvalidArgument",
      `parse the address '${text}'`,
      `it is not host:port (e.g. ${DEFAULT_GUEST_ARBITER})`,
    );
  return { hostname: match[1]!, port };
}

/**
 * Where the arbiter is: an explicit socket or address; else, in a guest (an IVSHMEM device is present and
 * no explicit region says otherwise, or the region given is a device's resource file), the bridge's
 * address; else the host's default socket.
 */
export function arbiterEndpoint(options: ConnectOptions): Endpoint {
  if (options.socket) {
    refuseAbstractSocket(options.socket, "connect to the arbiter");
    return { unix: options.socket };
  }
  if (options.tcp) return parseHostPort(options.tcp);
  const inGuest = options.region ? deviceAddress(options.region) !== undefined : guestDevice(options);
  if (inGuest) return parseHostPort(DEFAULT_GUEST_ARBITER);
  return { unix: DEFAULT_SOCKET };
}

/**
 * A host client told only where the arbiter is (--socket, IVSH_SOCKET), with no region file at the default
 * path, asks the arbiter which region it serves: it knows, and the user should not have to say it twice.
 * Anything else (a region given, a guest's device, the default file present) is left as it was.
 */
export async function withArbiterRegion(options: ConnectOptions, waitMs: number): Promise<ConnectOptions> {
  if (options.region || !options.socket || existsSync(DEFAULT_REGION) || guestDevice(options)) return options;
  const deadline = performance.now() + waitMs;
  for (let delay = 10; ; delay = Math.min(delay * 2, 250)) {
    try {
      // The caller's signal too: an interrupt while asking must end the command, not wait out the hello.
      const leftMs = Math.max(deadline - performance.now(), 1000); // a hello's second, at least
      const { report } = await fetchStatus({ unix: options.socket }, 1, options.signal, leftMs);
      return { ...options, region: report.region.path };
    } catch (error) {
      // Interrupted in any part of the question (its goodbye too): what the caller was doing was connecting.
      throwIfAborted(options.signal, "connect to the arbiter");
      // An arbiter too busy (or stopped) to accept is waited for, as connect() waits for it.
      if (error instanceof QueueFull && performance.now() < deadline) {
        await Bun.sleep(delay);
        continue;
      }
      // So is a socket this user may not open, one nobody serves, or an arbiter of another release: "no
      // region" would send them looking for the wrong thing, when what is missing is an arbiter to use.
      const told = ["Interrupted", "ArbiterUnreachable", "VersionMismatch"] as const;
      if (told.some((code) => isIvshError(error, code)) || refusedAccess(error)) throw error;
      return options; // resolveConnection and connect() then say what is missing, as they would have
    }
  }
}

export function resolveConnection(options: ConnectOptions): { region: MappedRegion; endpoint: Endpoint } {
  const device = options.region ? undefined : guestDevice(options);
  const regionPath = options.region ?? (device ? deviceResource(device, options) : DEFAULT_REGION);
  const endpoint = arbiterEndpoint(options);
  if (!existsSync(regionPath)) {
    if (options.region)
      throw failure(
        "DeviceNotFound",
        `map the region ${regionPath}`,
        `it does not exist (pass the --region of the arbiter meant, which \`ivsh status\` names, or start \`ivsh host --region ${shellWord(regionPath)}\` to make it${libraryForm("; connect({ region })")}; in a VM attach -device ivshmem-plain)`,
      );
    const sysfs = join(options.sysfsRoot ?? DEFAULT_SYSFS, "bus/pci/devices");
    const wrongRoot = notSysfs(options.sysfsRoot ?? DEFAULT_SYSFS);
    if (wrongRoot) throw failure("DeviceNotFound", "find the IVSHMEM device", wrongRoot);
    throw failure(
      "DeviceNotFound",
      "find the shared region",
      `there is no IVSHMEM device (PCI 1af4:1110 with a resource2 in ${sysfs}) and no region file ${regionPath}: ` +
        "in a VM, start it with -device ivshmem-plain,memdev=... (scripts/qemu/launch.sh in ivsh's source repository does); " +
        `on the host, start \`ivsh host\` or pass --region PATH${libraryForm(" or connect({ region })")} (or set IVSH_REGION: \`ivsh status\` shows the path ` +
        "of the region a running arbiter serves)",
    );
  }
  const region = mapRegionHeader(regionPath);
  touchScratch(region.headerWords());
  return { region, endpoint };
}

/**
 * The measurement `connect()` makes (or made) to pick the device's mapping, or undefined when it makes
 * none: a region (the option, else IVSH_REGION) or resource given, no device (a host process), or a
 * device that holds no ivsh region yet (nothing is written to it before an arbiter has formatted it).
 * Measured once per process.
 */
export function mappingProbe(options: ConnectOptions = {}): MappingProbe | undefined {
  checkConnectOptions(options, "probe the mapping"); // as connect() takes them: none, or an object
  const { region, resource } = withEnvironment(options); // IVSH_REGION is a region given, as for connect()
  if (region || resource) return undefined;
  const device = guestDevice(options);
  return device ? probeDevice(device) : undefined;
}

/** The device found in the real /sys: a command asks up to three times, each scan 3 ms under TCG. */
let systemDevice: IvshmemDevice | undefined;

/** Absence is not remembered: a process may retry until a device is attached. */
function guestDevice(options: ConnectOptions): IvshmemDevice | undefined {
  const root = options.sysfsRoot ?? DEFAULT_SYSFS;
  if (root !== DEFAULT_SYSFS) return findIvshmemDevices(root)[0];
  systemDevice ??= findIvshmemDevices(root)[0];
  return systemDevice;
}

function deviceResource(device: IvshmemDevice, options: ConnectOptions): string {
  if (options.resource === "resource2") return device.resource2;
  if (options.resource === "resource2_wc") {
    if (device.resource2Wc) return device.resource2Wc;
    throw failure(
      "DeviceNotFound",
      `map resource2_wc of IVSHMEM device ${device.address}`,
      "the kernel offers no write-combining mapping for it (its BAR 2 is not prefetchable); use resource2",
    );
  }
  // A device no arbiter has formatted yet is not measured (./probe.ts): resource2, which always exists.
  return probeDevice(device)?.chosen.path ?? device.resource2;
}
