/**
 * What to do about an arbiter's socket that does not exist, which depends on where the process runs: a
 * guest (its machine has an IVSHMEM device) never reaches the arbiter through a Unix socket.
 */
import { DEFAULT_GUEST_ARBITER, DEFAULT_SOCKET } from "../defaults.ts";
import { libraryForm } from "../errors.ts";
import { shellWord } from "../units.ts";
import { findIvshmemDevices } from "./device.ts";

/**
 * A socket that is not there. In a VM with an IVSHMEM device (a --socket or IVSH_SOCKET brought from the
 * host) "start `ivsh host`" and "no device was found" both mislead: a guest's way is its VM's bridge. The
 * default socket is tried when no device was found: in a VM that started without one, "start `ivsh host`"
 * would send the user after a host socket, so what a guest lacks is said too.
 */
export function socketMissingHint(path: string, code: string, sysfsRoot: string | undefined): string {
  const start = `start it with \`${hostCommand(path)}\`, or pass --socket${libraryForm(", or connect({ socket })")}`;
  if (code !== "ENOENT") return start;
  if (sysfsRoot !== undefined && hasDevice(sysfsRoot))
    return (
      `this machine has an IVSHMEM device: a process in a VM reaches the arbiter through its VM's bridge at ` +
      `${DEFAULT_GUEST_ARBITER} (or --connect), never a host socket, so leave out --socket and IVSH_SOCKET` +
      `${libraryForm(" (and connect({ socket }))")}; on a host, ${start}`
    );
  if (path !== DEFAULT_SOCKET) return start;
  return `${start}; in a VM: no IVSHMEM device (PCI 1af4:1110) was found, start the VM with -device ivshmem-plain (scripts/qemu/launch.sh in ivsh's source repository does)`;
}

/**
 * Asked once per process and tree: a client retrying an arbiter that is restarting meets ENOENT on every
 * try, and a scan of the PCI tree per try (0.2–0.35 ms) times 1 000 clients took the CPU the restarting
 * arbiter needed (`ivsh bench --scale`: restart answered in 3.5–6.9 s against 1.6–1.8 s without the scan).
 */
const devicePresence = new Map<string, boolean>();

function hasDevice(sysfsRoot: string): boolean {
  let present = devicePresence.get(sysfsRoot);
  if (present === undefined) {
    try {
      present = findIvshmemDevices(sysfsRoot).length > 0;
    } catch {
      present = false; // a tree this user may not read: no hint rather than another error
    }
    devicePresence.set(sysfsRoot, present);
  }
  return present;
}

/** `ivsh host` for the socket at `path`: alone it would make the default socket, not this one. */
function hostCommand(path: string): string {
  if (path === DEFAULT_SOCKET) return "ivsh host";
  return `ivsh host --socket ${shellWord(path)}`;
}
