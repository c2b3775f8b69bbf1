/** Where things are unless a flag or environment variable says otherwise. */
export const DEFAULT_SOCKET = "/tmp/ivsh.sock";
export const DEFAULT_REGION = "/dev/shm/ivsh";
export const DEFAULT_REGION_SIZE = "256MiB";
export const DEFAULT_BLOCK_SIZE = "64KiB";
export const DEFAULT_SLOTS = 1024;
export const DEFAULT_LEASE = "5s";
/** The arbiter as a guest sees it: launch.sh forwards this address to `ivsh bridge` on the host. */
export const DEFAULT_GUEST_ARBITER = "10.0.2.100:7777";
export const DEFAULT_SYSFS = "/sys";

export function defaultStatePath(regionPath: string): string {
  return `${regionPath}.state`;
}
