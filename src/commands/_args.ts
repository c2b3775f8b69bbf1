/**
 * Arguments shared by several commands, declared once. Environment variables give the defaults
 * (IVSH_SOCKET, IVSH_REGION, IVSH_CONNECT) so a shell can be set up once.
 */
import type { ArgDef } from "citty";
import { DEFAULT_GUEST_ARBITER, DEFAULT_REGION, DEFAULT_SOCKET } from "../defaults.ts";
import { failure, isIvshError } from "../errors.ts";
import {
  type ConnectOptions,
  DEFAULT_RECONNECT_TIMEOUT_MS,
  parseHostPort,
  withEnvironment,
} from "../guest/connect-options.ts";
import { refuseAbstractSocket } from "../guest/socket-name.ts";
import { MAX_CHANNEL_NAME_BYTES } from "../transfer/slot.ts";
import { formatDuration, LONGEST_TIMER_MS, parseDuration } from "../units.ts";
import { onStopSignals } from "./_exit.ts";
import { UsageError } from "./_strict.ts";

export const socketArgs = {
  socket: {
    type: "string",
    description: `Arbiter's Unix socket (env IVSH_SOCKET; default ${DEFAULT_SOCKET})`,
    valueHint: "PATH",
  },
} as const satisfies Record<string, ArgDef>;

export const regionArgs = {
  region: {
    type: "string",
    description: `Region file on the host (env IVSH_REGION; default ${DEFAULT_REGION}, or if that does not exist, the one the arbiter at --socket serves); in a guest the IVSHMEM device is used`,
    valueHint: "PATH",
  },
} as const satisfies Record<string, ArgDef>;

/** How a client reaches the arbiter: the host flags plus the guest's TCP address. */
export const clientArgs = {
  ...socketArgs,
  ...regionArgs,
  connect: {
    type: "string",
    description: `Arbiter address as host:port, as a guest reaches it (env IVSH_CONNECT; default ${DEFAULT_GUEST_ARBITER} in a guest)`,
    valueHint: "HOST:PORT",
  },
  "sysfs-root": {
    type: "string",
    description: "Where to look for the IVSHMEM PCI device (tests point this at a fake tree)",
    default: "/sys",
    valueHint: "DIR",
  },
} as const satisfies Record<string, ArgDef>;

export const jsonArgs = {
  json: {
    type: "boolean",
    description:
      "Print a machine-readable JSON result instead of text (on stdout; on stderr when the data goes to stdout)",
  },
} as const satisfies Record<string, ArgDef>;

/** Progress of a transfer: on a terminal by default. */
export const progressArgs = {
  progress: {
    type: "boolean",
    description:
      "Off a terminal (a log, a pipe) only the summary line shows, at the end; with --progress also a plain line a second while bytes move, and what the transfer waits for",
  },
  quiet: {
    type: "boolean",
    alias: "q",
    description: "No progress, notices or summary line (warnings and errors still show)",
  },
} as const satisfies Record<string, ArgDef>;

export function socketPath(args: { socket?: string | undefined }): string {
  refuseEmpty("--socket", args.socket, "the arbiter's socket");
  // An empty variable is an unset one, as for the clients (withEnvironment): "" is no socket's name.
  const path = args.socket ?? (process.env.IVSH_SOCKET || DEFAULT_SOCKET);
  checkFlag(() => refuseAbstractSocket(path, `use ${args.socket ? "--socket" : "IVSH_SOCKET"} ${path}`));
  return path;
}

export function regionPath(args: { region?: string | undefined }): string {
  refuseEmpty("--region", args.region, "the region file");
  return args.region ?? (process.env.IVSH_REGION || DEFAULT_REGION);
}

/**
 * `--socket=` (or `--socket ""`): an empty path or address was read as "not given" (the default), or
 * resolved to the current directory (host --region=, --state=), or reached the runtime (a TypeError).
 */
export function refuseEmpty(flag: string, value: string | undefined, what: string): void {
  if (value === "")
    throw new UsageError(
      `Failed to use ${flag} '' since it is empty: name ${what}, or leave ${flag} out for the default`,
    );
}

/** An empty FILE or OUT argument names no file: it failed later as "Failed to send  since ..." (exit 1). */
export function refuseEmptyFile(named: string, value: string, what: string): void {
  if (value === "") throw new UsageError(`Failed to use ${named} '' since it is empty: name ${what}`);
}

export const channelArgs = {
  channel: {
    type: "string",
    valueHint: "NAME",
    description: `Channel name (1 to ${MAX_CHANNEL_NAME_BYTES} bytes): a sender and a receiver meet on it`,
    default: "default",
  },
} as const satisfies Record<string, ArgDef>;

/** --channel, checked before anything is opened: an empty or overlong name is a usage error. */
export function channelName(channel: string): string {
  return checkFlag(() => {
    const bytes = Buffer.byteLength(channel);
    if (bytes < 1 || bytes > MAX_CHANNEL_NAME_BYTES)
      throw failure(
        "InvalidArgument",
        `use --channel '${channel}'`,
        `${bytes === 0 ? "it is empty" : `it is ${bytes} bytes`}: a channel name is 1 to ${MAX_CHANNEL_NAME_BYTES} bytes`,
      );
    return channel;
  });
}

/** How a client command reaches the region and the arbiter, from flags, then environment, then defaults. */
export function connectOptions(
  args: {
    socket?: string | undefined;
    region?: string | undefined;
    connect?: string | undefined;
    "sysfs-root"?: string;
  },
  name: string,
): ConnectOptions {
  refuseEmpty("--socket", args.socket, "the arbiter's socket");
  refuseEmpty("--region", args.region, "the region file");
  refuseEmpty("--connect", args.connect, "the arbiter's HOST:PORT");
  const options: ConnectOptions = { name, sysfsRoot: args["sysfs-root"] ?? "/sys" };
  if (args.socket) {
    const socket = args.socket;
    checkFlag(() => refuseAbstractSocket(socket, `use --socket ${socket}`));
    options.socket = socket;
  }
  if (args.region) options.region = args.region;
  if (args.connect) options.tcp = connectAddress(args.connect, "--connect");
  // The variables are these flags' defaults (socketPath's too): a value refused is a usage error naming it.
  const { IVSH_SOCKET: envSocket, IVSH_CONNECT: envAddress } = process.env;
  if (!args.socket && !args.connect) {
    if (envSocket) checkFlag(() => refuseAbstractSocket(envSocket, `use IVSH_SOCKET ${envSocket}`));
    else if (envAddress) connectAddress(envAddress, "IVSH_CONNECT");
  }
  // Both say where the arbiter is: one was ignored without a word (--socket won).
  if (args.socket && args.connect)
    checkFlag(() => {
      throw failure(
        "InvalidArgument",
        "use --socket and --connect together",
        "each says where the arbiter is (--socket its Unix socket on the host, --connect its HOST:PORT as a guest reaches it): pass one of them",
      );
    });
  return withEnvironment(options);
}

/** --connect or IVSH_CONNECT, checked before anything is opened: one that is not host:port is a usage error. */
function connectAddress(text: string, named: string): string {
  return checkFlag(() => {
    try {
      parseHostPort(text);
      return text;
    } catch (error) {
      if (!isIvshError(error, "InvalidArgument")) throw error;
      throw failure(
        "InvalidArgument",
        `use ${named} '${text}'`,
        `it is not HOST:PORT with a port from 1 to 65535 (e.g. ${DEFAULT_GUEST_ARBITER})`,
      );
    }
  });
}

/** How long a transfer's end waits for the other end to show up; not a limit on the transfer itself. */
export const waitArgs = {
  timeout: {
    type: "string",
    // An arbiter that went away is waited for the client's reconnect timeout at most, whatever DURATION.
    description: `Give up (exit 1) if the arbiter or the other end has not answered within DURATION, with a unit (ms, s, m, h): e.g. 30s or 500ms (default: wait for it); an arbiter that went away is given ${formatDuration(DEFAULT_RECONNECT_TIMEOUT_MS)} at most to come back`,
    valueHint: "DURATION",
  },
} as const satisfies Record<string, ArgDef>;

/** --timeout in milliseconds, or undefined to wait for as long as it takes. */
export function peerWaitMs(timeout: string | undefined): number | undefined {
  if (timeout === undefined) return undefined;
  const leaveOut = "leave it out to wait as long as it takes";
  return durationWithin(timeout, "--timeout", { ms: 1, text: "1ms", why: leaveOut, beyond: leaveOut });
}

/**
 * The longest a duration flag takes, in a form the flags take (formatDuration's "24 d 20 h", once "596 h 31 min", is
 * refused when typed back), with its hours for people.
 */
const LONGEST_FLAG_DURATION = `${LONGEST_TIMER_MS}ms (about ${Math.floor(LONGEST_TIMER_MS / 3_600_000)}h)`;

/**
 * A duration flag that must be at least `least.ms` (`least.text` in the flag's own syntax, e.g. "1s") and
 * at most what a timer can wait; `least.why` says why the least is what it is, `least.beyond` what to do
 * past the longest (the least's reason said there was "a shorter one expires clients", for a value too long).
 */
export function durationWithin(
  text: string,
  flag: string,
  least: { ms: number; text: string; why: string; beyond?: string },
): number {
  return checkFlag(() => {
    const ms = parseDuration(text, flag, least.text);
    if (ms < least.ms)
      throw failure(
        "InvalidArgument",
        `use ${flag} ${text}`,
        `it is shorter than ${least.text}, the least ${flag} takes (${least.why})`,
      );
    if (ms > LONGEST_TIMER_MS)
      throw failure(
        "InvalidArgument",
        `use ${flag} ${text}`,
        `it is longer than ${LONGEST_FLAG_DURATION}, the longest a timer can wait${least.beyond ? ` (${least.beyond})` : ""}`,
      );
    return ms;
  });
}

/**
 * An AbortSignal that the first SIGHUP/SIGINT/SIGTERM aborts, so a long operation stops cleanly at its
 * next step; a second signal has its default effect.
 */
export function abortOnSignals(): AbortSignal {
  const controller = new AbortController();
  onStopSignals((signal) => controller.abort(`it was interrupted by ${signal}`), { once: true });
  return controller.signal;
}

/**
 * Runs a flag's parse or check: a value it refuses is a usage error (exit 2) naming the flag, reported
 * before anything is opened or started.
 */
export function checkFlag<T>(check: () => T): T {
  try {
    return check();
  } catch (error) {
    if (isIvshError(error, "InvalidArgument")) throw new UsageError(error.message);
    throw error;
  }
}
