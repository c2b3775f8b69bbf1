/**
 * A guest's mapping probe (./probe.ts), kept for the rest of the boot. The probe measures the hypervisor's
 * memory type for the BAR, which does not change until the VM reboots, yet cost every `ivsh guest` command
 * 20–65 ms under TCG. The first command of a boot writes its verdict to a file on tmpfs (cleared by the
 * reboot, and named by this boot's id as well, in case it is not); later ones read it.
 *
 * The directory is shared with every user, and guest commands usually run as root (the BAR's sysfs files
 * are root's), so the file is handled as hostile: opened without following a symlink or waiting (a FIFO),
 * trusted only if it is a regular file owned by this user or root, of this format, naming this device and
 * exactly its resource files, with every figure a positive number, choosing a file this user may open;
 * written under a fresh name (never an existing one) and renamed into place. Anything else is measured
 * again. IVSH_PROBE_CACHE=0 measures every time.
 */
import {
  accessSync,
  closeSync,
  constants,
  fstatSync,
  openSync,
  readFileSync,
  renameSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { O_NOFOLLOW, O_NONBLOCK, O_RDONLY } from "../ffi/index.ts";
import { kernelDomain } from "../region/mailbox.ts";
import type { IvshmemDevice } from "./device.ts";

const TMPFS_DIRECTORIES = ["/dev/shm", "/tmp"];
/** In the file's name: a verdict written by an ivsh that wrote another shape is not read. */
const FORMAT = 1;

interface Speed {
  writeBytesPerSecond: number;
  readBytesPerSecond: number;
}

/** What of a probe (./probe.ts `MappingProbe`) is checked before its verdict is trusted: all a reader uses. */
interface Verdict {
  device: string;
  chosen: Speed & { resource: string; path: string };
  measured: (Speed & { resource: string; path: string })[];
  anonymous: Speed;
  slowdown: number;
  slow: boolean;
  reused: boolean;
}

/**
 * Where this boot keeps the verdict for `device`: only for a real device (not a test's fake sysfs), and
 * only where the boot can be told apart (a readable boot id).
 */
export function defaultProbeCacheDirectory(device: IvshmemDevice): string | undefined {
  if (process.env.IVSH_PROBE_CACHE === "0" || !device.resource2.startsWith("/sys/")) return undefined;
  if (kernelDomain() === 0) return undefined;
  return TMPFS_DIRECTORIES.find((directory) => isDirectory(directory));
}

/** This boot's earlier verdict for `device`, if one is kept in `directory` and can be trusted. */
export function readCachedProbe<T extends Verdict>(directory: string, device: IvshmemDevice): T | undefined {
  let fd: number;
  try {
    // Not blocking: a FIFO planted there would hold the open until someone writes to it (for ever).
    fd = openSync(cacheFile(directory, device), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  } catch {
    return undefined; // none yet, or a symlink: measure
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile() || (stat.uid !== 0 && stat.uid !== process.getuid?.())) return undefined;
    const probe = JSON.parse(readFileSync(fd, "utf8")) as T;
    // Root's verdict is trusted by all, but may choose a file only root may open (resource2_wc, where a
    // user was given resource2 alone): that user measures what it can open instead.
    return describesDevice(probe, device) && mayOpen(probe.chosen.path)
      ? { ...probe, reused: true }
      : undefined;
  } catch {
    return undefined; // torn or not JSON: measure
  } finally {
    closeSync(fd);
  }
}

/** Keeps `probe` for later commands of this boot; a failure to write costs only the next probe. */
export function writeCachedProbe(directory: string, device: IvshmemDevice, probe: Verdict): void {
  const path = cacheFile(directory, device);
  const partial = `${path}.${process.pid}.${crypto.randomUUID()}`;
  try {
    // "wx": created here or not at all, so a name planted in the shared directory is never written through.
    writeFileSync(partial, JSON.stringify({ ...probe, reused: false }), { mode: 0o644, flag: "wx" });
    // Renamed over whatever is there (a symlink is replaced, not followed): a reader sees old or new, whole.
    renameSync(partial, path);
  } catch {
    try {
      unlinkSync(partial);
    } catch {
      // nothing was written
    }
  }
}

function cacheFile(directory: string, device: IvshmemDevice): string {
  const key = `${kernelDomain().toString(16)}-${device.address.replace(/[^0-9a-zA-Z.]/g, "_")}`;
  return join(directory, `ivsh-probe-v${FORMAT}-${key}.json`);
}

function describesDevice(probe: Verdict, device: IvshmemDevice): boolean {
  const files = new Map([["resource2", device.resource2]]);
  if (device.resource2Wc) files.set("resource2_wc", device.resource2Wc);
  const names = (speed: { resource: string; path: string }) => files.get(speed.resource) === speed.path;
  return (
    probe.device === device.address &&
    Array.isArray(probe.measured) &&
    probe.measured.length === files.size &&
    probe.measured.every((speed) => names(speed) && isSpeed(speed)) &&
    new Set(probe.measured.map((speed) => speed.resource)).size === files.size &&
    names(probe.chosen) &&
    isSpeed(probe.chosen) &&
    isSpeed(probe.anonymous) &&
    isPositive(probe.slowdown) &&
    typeof probe.slow === "boolean"
  );
}

function isSpeed(speed: Speed | undefined): boolean {
  return isPositive(speed?.writeBytesPerSecond) && isPositive(speed?.readBytesPerSecond);
}

function isPositive(value: unknown): boolean {
  return typeof value === "number" && Number.isFinite(value) && value > 0;
}

function mayOpen(path: string): boolean {
  try {
    accessSync(path, constants.R_OK | constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}
