/**
 * A guest's mapping probe (./probe.ts), kept for the rest of the boot. The probe measures the hypervisor's
 * memory type for the BAR, which does not change until the VM reboots, yet cost every `ivsh guest` command
 * 20–65 ms under TCG. The first command of a boot writes its verdict to a file on tmpfs (cleared by the
 * reboot, and named by this boot's id as well, in case it is not); later ones read it.
 *
 * A verdict file is only trusted if it is owned by this user or root, names this device and resource
 * paths, and parses; anything else is measured again (and the file replaced). The worst a forged file
 * could do is pick the slower of two working mappings. IVSH_PROBE_CACHE=0 measures every time.
 */
import { existsSync, readFileSync, renameSync, statSync, unlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { kernelDomain } from "../region/mailbox.ts";
import type { IvshmemDevice } from "./device.ts";

/** What of a probe (./probe.ts `MappingProbe`) is checked before its verdict is trusted. */
interface Verdict {
  device: string;
  chosen: { path: string };
  measured: { path: string; readBytesPerSecond: number }[];
  slow: boolean;
  reused: boolean;
}

const TMPFS_DIRECTORIES = ["/dev/shm", "/tmp"];

/** Where this boot keeps the verdict for `device`: only for a real device (not a test's fake sysfs). */
export function defaultProbeCacheDirectory(device: IvshmemDevice): string | undefined {
  if (process.env.IVSH_PROBE_CACHE === "0" || !device.resource2.startsWith("/sys/")) return undefined;
  return TMPFS_DIRECTORIES.find((directory) => existsSync(directory));
}

/** This boot's earlier verdict for `device`, if one is kept in `directory` and can be trusted. */
export function readCachedProbe<T extends Verdict>(directory: string, device: IvshmemDevice): T | undefined {
  const path = cacheFile(directory, device);
  try {
    const { uid } = statSync(path);
    if (uid !== 0 && uid !== process.getuid?.()) return undefined;
    const probe = JSON.parse(readFileSync(path, "utf8")) as T;
    return describesDevice(probe, device) ? { ...probe, reused: true } : undefined;
  } catch {
    return undefined; // none yet, or unreadable: measure
  }
}

/** Keeps `probe` for later commands of this boot; a failure to write costs only the next probe. */
export function writeCachedProbe(directory: string, device: IvshmemDevice, probe: Verdict): void {
  const path = cacheFile(directory, device);
  const partial = `${path}.${process.pid}`;
  try {
    // Written whole, then renamed over: a concurrent reader sees the old file or the new, never half.
    writeFileSync(partial, JSON.stringify({ ...probe, reused: false }), { mode: 0o644 });
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
  return join(directory, `ivsh-probe-${key}.json`);
}

function describesDevice(probe: Verdict, device: IvshmemDevice): boolean {
  const paths = new Set([device.resource2, device.resource2Wc].filter(Boolean));
  return (
    probe.device === device.address &&
    paths.has(probe.chosen?.path) &&
    Array.isArray(probe.measured) &&
    probe.measured.every((speed) => paths.has(speed.path) && speed.readBytesPerSecond > 0) &&
    typeof probe.slow === "boolean"
  );
}
