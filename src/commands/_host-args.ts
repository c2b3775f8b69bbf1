/** `ivsh host`'s flags, and the least --lease and --hello-wait they accept (checked by ./host.ts). */
import type { ArgDef } from "citty";
import {
  DEFAULT_BLOCK_SIZE,
  DEFAULT_LEASE,
  DEFAULT_REGION,
  DEFAULT_REGION_SIZE,
  DEFAULT_SLOTS,
} from "../defaults.ts";
import { DEFAULT_HELLO_WAIT_MS } from "../host/connection.ts";
import { LOG_LEVELS } from "../log.ts";
import { regionArgs, socketArgs } from "./_args.ts";

/**
 * The shortest --lease. Clients heartbeat every sixth of the lease (src/guest/client.ts) and the arbiter
 * expires a client at its second sweep (every quarter lease) that finds it silent for a lease: at 1 s a
 * client still keeps its lease when kept from running for some 800 ms (a loaded machine, a GC pause, a
 * busy VM), while a lease of tens of milliseconds expires clients that are merely slow.
 */
export const LEAST_LEASE = { ms: 1000, text: "1s" } as const;
/** The shortest --hello-wait: a client says hello as it connects, but a loaded host or a VM's path may delay it. */
export const LEAST_HELLO_WAIT = { ms: 250, text: "250ms" } as const;

export const hostArgs = {
  region: {
    ...regionArgs.region,
    description: `The region file to serve, created if absent (env IVSH_REGION; default ${DEFAULT_REGION})`,
  },
  ...socketArgs,
  size: {
    type: "string",
    valueHint: "SIZE",
    description:
      "Region size, created if absent (QEMU needs a power of two); on a restart, what the state file records",
    default: DEFAULT_REGION_SIZE,
  },
  "block-size": {
    type: "string",
    valueHint: "SIZE",
    description: "Allocation unit, a multiple of 4 KiB; on a restart, what the state file records",
    default: DEFAULT_BLOCK_SIZE,
  },
  slots: {
    type: "string",
    valueHint: "N",
    description:
      "Synchronisation slots (locks, condition variables, channels); on a restart, what the state file records",
    default: String(DEFAULT_SLOTS),
  },
  state: {
    type: "string",
    description: "Where allocations are persisted across restarts (default REGION.state)",
    valueHint: "PATH",
  },
  lease: {
    type: "string",
    valueHint: "DURATION",
    description: `Heartbeat lease, with a unit (ms, s, m, h; e.g. 5s), at least ${LEAST_LEASE.text} (clients heartbeat every sixth of it): a silent client loses its grants after this`,
    default: DEFAULT_LEASE,
  },
  "hello-wait": {
    type: "string",
    valueHint: "DURATION",
    description: `Close a connection that sends no hello within this, with a unit (ms, s, m, h; e.g. 10s), at least ${LEAST_HELLO_WAIT.text}`,
    default: `${DEFAULT_HELLO_WAIT_MS / 1000}s`,
  },
  "client-quota": {
    type: "string",
    valueHint: "SIZE",
    description: "Most a client may allocate at once, rounded up to whole blocks (size, or 0 = no limit)",
    default: "0",
  },
  "vm-quota": {
    type: "string",
    valueHint: "SIZE",
    description:
      "Most all clients of one VM may allocate at once, rounded up to whole blocks (size, or 0 = no limit)",
    default: "0",
  },
  "vm-slots": {
    type: "string",
    valueHint: "N",
    description:
      "Most synchronisation slots (locks, condition variables, channels) all clients of one VM may hold at once; host processes count as VM 'host' (0 = no limit)",
    default: "0",
  },
  "vm-connections": {
    type: "string",
    valueHint: "N",
    description:
      "Most connections one VM may have open at once; host processes with a session count as VM 'host' (0 = no limit)",
    default: "0",
  },
  "exit-with-parent": {
    type: "boolean",
    description:
      "Stop (as on SIGTERM) when the process that started the arbiter exits, however it exits (one that starts it " +
      "directly names its pid in IVSH_PARENT_PID, so an exit before the arbiter runs is noticed too)",
  },
  "log-level": {
    type: "string",
    description:
      "What to log: error, warn, info (sessions, refusals, expiries; the default) or debug (env IVSH_LOG_LEVEL)",
    valueHint: LOG_LEVELS.join("|"),
  },
  quiet: { type: "boolean", alias: "q", description: "Log warnings and errors only (--log-level warn)" },
  verbose: { type: "boolean", alias: "v", description: "Log everything (--log-level debug)" },
} as const satisfies Record<string, ArgDef>;
