/**
 * Which process holds a file's lock, or listens on a Unix socket: "another arbiter is serving it" is only
 * actionable with the pid to stop. Read from /proc on an error path only; where /proc says nothing (another
 * PID namespace, no permission), the caller's message goes without it.
 */
import { readdirSync, readFileSync, readlinkSync, statSync } from "node:fs";

/** " (pid N, COMMAND)" for the process holding a flock on `path`, or "" if none can be named. */
export function lockHolder(path: string): string {
  return describe(flockHolderPid(path) ?? Number.NaN);
}

/**
 * The pid of the process holding a flock on `path`, as /proc/locks lists it (looked at, not taken: a
 * flock tried to find out is held for that moment, and refuses its holder's own), or undefined if none is
 * listed or the list cannot be read.
 */
export function flockHolderPid(path: string): number | undefined {
  try {
    const { dev, ino } = statSync(path);
    // /proc/locks names the file as MAJOR:MINOR:INODE, the device numbers in hex.
    const file = `${major(dev).toString(16).padStart(2, "0")}:${minor(dev).toString(16).padStart(2, "0")}:${ino}`;
    const line = readFileSync("/proc/locks", "utf8")
      .split("\n")
      .find((entry) => entry.includes(" FLOCK ") && entry.split(/\s+/)[5] === file);
    const pid = Number(line?.split(/\s+/)[4]);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether /proc/locks lists a flock on the file at `path` (held, or waited for: "->"); undefined if that
 * cannot be told (no /proc, no permission). Matched by inode number alone: the device it names is the
 * file system's own, which stat's is not on overlayfs with layers on two file systems, nor on a btrfs
 * subvolume. Another file with that number elsewhere counts too, which only errs towards "locked".
 */
export function flockListed(path: string): boolean | undefined {
  let ino: bigint;
  let list: string;
  try {
    // Unsigned, as /proc/locks prints it: Bun gives one past 2^63 (overlayfs xino) as negative.
    ino = BigInt.asUintN(64, statSync(path, { bigint: true }).ino);
    list = readFileSync("/proc/locks", "utf8");
  } catch {
    return undefined;
  }
  // "N: [-> ]FLOCK ADVISORY WRITE PID MAJOR:MINOR:INODE START END".
  return list.split("\n").some((entry) => {
    const fields = entry
      .trim()
      .split(/\s+/)
      .filter((field) => field !== "->");
    return fields[1] === "FLOCK" && fields[5]?.split(":")[2] === String(ino);
  });
}

/**
 * " (pid N, COMMAND)" for the process listening on the Unix socket at `path`, or "" if none can be named.
 * /proc/net/unix names a socket by the name it was bound at, which `boundAs` recognises (a socket bound at
 * a private name and then linked to `path` is listed under the private name).
 */
export function socketListener(path: string, boundAs = (name: string) => name === path): string {
  try {
    // /proc/net/unix: "Num RefCount Protocol Flags Type St Inode Path"; a listener's Flags has __SO_ACCEPTCON.
    const listening = readFileSync("/proc/net/unix", "utf8")
      .split("\n")
      .map((entry) => entry.trim().split(/\s+/))
      .find((fields) => boundAs(fields[7] ?? "") && (Number.parseInt(fields[3] ?? "0", 16) & 0x10000) !== 0);
    return listening ? describe(ownerOfSocket(`socket:[${listening[6]}]`)) : "";
  } catch {
    return "";
  }
}

function ownerOfSocket(link: string): number {
  for (const pid of readdirSync("/proc").filter((name) => /^\d+$/.test(name))) {
    try {
      if (readdirSync(`/proc/${pid}/fd`).some((fd) => linkOf(`/proc/${pid}/fd/${fd}`) === link))
        return Number(pid);
    } catch {
      // A process that exited meanwhile, or one this user may not look into.
    }
  }
  return Number.NaN;
}

/**
 * Where a descriptor leads, or "" if it was closed since its directory was listed: a process opening and
 * closing files while it is looked at (and the listing's own descriptor, in this process) is still
 * looked at through its other descriptors, not skipped whole.
 */
function linkOf(fdPath: string): string {
  try {
    return readlinkSync(fdPath);
  } catch {
    return "";
  }
}

function describe(pid: number): string {
  if (!Number.isInteger(pid) || pid <= 0) return "";
  try {
    return ` (pid ${pid}, ${readFileSync(`/proc/${pid}/comm`, "utf8").trim()})`;
  } catch {
    return ` (pid ${pid})`;
  }
}

/** glibc's gnu_dev_major / gnu_dev_minor over the 64-bit dev_t that stat returns. */
function major(dev: number): number {
  return Number(((BigInt(dev) >> 8n) & 0xfffn) | ((BigInt(dev) >> 32n) & ~0xfffn));
}

function minor(dev: number): number {
  return Number((BigInt(dev) & 0xffn) | ((BigInt(dev) >> 12n) & ~0xffn));
}
