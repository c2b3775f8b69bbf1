/**
 * Where `ivsh bench` writes (--json, --out, --disk-dir), checked before it measures: a path it cannot write
 * was found only after minutes of measuring, and what it was to hold was lost.
 */
import { accessSync, constants, existsSync, lstatSync, readlinkSync, realpathSync, statSync } from "node:fs";
import { basename, dirname, join, relative, resolve } from "node:path";
import { FIGURE_FILES } from "../bench/figures.ts";
import { holdFifo, ownDescriptor, writeFailure } from "../bench/output.ts";
import { failure } from "../errors.ts";
import { errnoOf } from "../ffi/errno.ts";
import { UsageError } from "./_strict.ts";

/** The flags of `ivsh bench` that name where it writes. */
type Destinations = {
  json?: string | boolean;
  out?: string | boolean;
  scale?: string | boolean;
  "disk-dir"?: string | boolean;
};

/**
 * Where the run writes, checked before it measures: a --json or --out path it cannot write was found only
 * after minutes of measuring, and their figures were lost; a --disk-dir that is missing, at the first step.
 */
export function checkDestinations(args: Destinations): void {
  const disk = args.scale ? undefined : args["disk-dir"];
  if (typeof disk === "string" && !(existsSync(disk) && statSync(disk).isDirectory()))
    throw failure(
      "NotFound",
      `use --disk-dir ${disk}`,
      "it is not an existing directory (create it, or pass another)",
    );
  // A read-only one failed as "Failed to mkdtemp ...", naming neither the flag nor what to do.
  if (typeof disk === "string") checkCreatable("--disk-dir", disk, resolve(disk));
  if (typeof args.json === "string") {
    // "results/" names a directory even before it exists: the write failed (ENOTDIR) after the whole run.
    if (args.json.endsWith("/") || (existsSync(args.json) && statSync(args.json).isDirectory()))
      throw failure(
        "InvalidArgument",
        `write --json ${args.json}`,
        "it names a directory: name the FILE to write",
      );
    // Opened for writing after the run, a socket file fails (ENXIO): the JSON was lost. (A descriptor of
    // this process's own, --json /dev/stdout on a socket, is left to output.ts's writeWhole.)
    if (isSocket(args.json) && !ownDescriptor(args.json))
      throw failure(
        "InvalidArgument",
        `write --json ${args.json}`,
        "it is a socket, which no file can be written to (ENXIO): name the FILE to write",
      );
    // A descriptor not open (--json /dev/fd/9 without 9>FILE) leads nowhere: opening it failed (ENOENT)
    // after the whole run, the JSON lost.
    if (ownDescriptor(args.json) && !existsSync(args.json))
      throw failure(
        "InvalidArgument",
        `write --json ${args.json}`,
        "it names a descriptor this process does not have open: open it (as the shell's N>FILE does), or pass another --json",
      );
    refuseDeviceTakingNoDocument(args.json);
    // Written into, not replaced: its directory (/dev for --json /dev/stdout) need not be writable.
    if (!writtenInto(args.json)) {
      checkCreatable("--json", args.json);
      if (isLink(args.json)) checkLinkedJson(args.json);
    } else if (!ownDescriptor(args.json) && !mayWrite(args.json))
      // Opened for writing after the run: root's FIFO, or /dev/mem, failed then (EACCES), the JSON lost.
      throw failure(
        "PermissionDenied",
        `write --json ${args.json}`,
        `${args.json} is a FIFO or device this user may not write: pass another --json`,
      );
  }
  // The figures go into --out itself: an existing file there, or a directory this user may not write, is
  // as wrong as a parent of it that is.
  if (typeof args.out === "string") checkCreatable("--out", args.out, resolve(args.out));
  // Found only after the run: the JSON took the path the figures needed, or a figure replaced the JSON.
  // Compared where they lead: through links, and with --out under --json (the JSON a file in its way).
  if (typeof args.json === "string" && typeof args.out === "string") {
    const json = landing(args.json);
    const out = landing(args.out);
    if (
      json === out ||
      out.startsWith(`${json}/`) ||
      FIGURE_FILES.some((name) => resolve(out, name) === json)
    )
      throw new UsageError(
        `--json ${args.json} is --out ${args.out}, one of its figures or a file in its way: write the JSON elsewhere`,
      );
  }
}

/**
 * A --json that is a FIFO (checkDestinations passed it) is opened for writing now (output.ts's holdFifo),
 * and refused when no program reads it: opened after the run, the run's end waited for a reader for ever.
 * The last check before the run: one refusing the run after it (--out, the room in /dev/shm) exited with
 * the FIFO open, which ended its reader with an empty document (cat's empty file, exit 0), and the next
 * run was refused, the reader gone.
 */
export function holdJsonFifo(json: string | undefined): void {
  if (typeof json !== "string" || ownDescriptor(json)) return;
  if (!statSync(json, { throwIfNoEntry: false })?.isFIFO()) return;
  try {
    holdFifo(json);
  } catch (error) {
    if (errnoOf(error) !== "ENXIO") throw writeFailure(`--json ${json}`, error);
    throw failure(
      "InvalidArgument",
      `write --json ${json}`,
      `no program reads the FIFO: start its reader first (e.g. jq . < ${json} &), then the benchmark`,
    );
  }
}

/**
 * A --json that is a link is written through (output.ts's writeWhole): a loop of links leads nowhere, a
 * link to nothing needs the directory it points into, and a file written where it leads (not beside the
 * link) needs that directory writable. Each failed only after the whole run. One of this process's own
 * descriptors (--json /dev/stdout) or a FIFO is written into directly, and is left alone here.
 */
function checkLinkedJson(json: string): void {
  if (loops(json))
    throw failure(
      "InvalidArgument",
      `write --json ${json}`,
      "it is a loop of links, which leads to no file: remove the loop, or pass another --json",
    );
  if (!existsSync(json) && !existsSync(dirname(landing(json))))
    refuseLinkToNothing("--json", json, json, "whose directory");
  if (!existsSync(json) || (statSync(json).isFile() && !ownDescriptor(json)))
    checkCreatable("--json", json, dirname(landing(json)));
}

/**
 * What output.ts's writeWhole writes into rather than replaces: one of this process's descriptors
 * (--json /dev/stdout), a FIFO or a device, where it leads. No file is made beside it.
 */
function writtenInto(path: string): boolean {
  if (ownDescriptor(path)) return true;
  try {
    const stats = statSync(path);
    return stats.isFIFO() || stats.isCharacterDevice() || stats.isBlockDevice();
  } catch {
    return false;
  }
}

/** The kernel's memory devices (major 1) that take any write: /dev/null, /dev/zero, /dev/random, /dev/urandom. */
const MEMORY_DEVICES = 1n;
const TAKING_ANY_WRITE = new Set([3n, 5n, 8n, 9n]);

/**
 * A --json leading (through a link, or as /dev/stdout) to a memory device other than those taking any
 * write: /dev/full fails every write (ENOSPC), /dev/kmsg takes log lines, not a document, and /dev/mem,
 * /dev/kmem and /dev/port write into the machine itself. /dev/full passed the checks and failed after the
 * whole run, the JSON lost. Whether any other device (a terminal, a serial line) takes a write cannot be known without
 * writing to it, which a check must not do: those are written into after the run, as asked.
 */
function refuseDeviceTakingNoDocument(json: string): void {
  let device: { major: bigint; minor: bigint } | undefined;
  try {
    const stats = statSync(json, { bigint: true });
    if (stats.isCharacterDevice()) device = deviceNumbers(stats.rdev);
  } catch {
    return; // nothing there yet, or no way to it: the other checks say what is wrong
  }
  if (device?.major !== MEMORY_DEVICES || TAKING_ANY_WRITE.has(device.minor)) return;
  throw failure(
    "InvalidArgument",
    `write --json ${json}`,
    device.minor === 7n
      ? "it is /dev/full, where every write fails (ENOSPC): name the FILE to write, or /dev/null to keep no JSON"
      : `it is the memory device ${device.major}:${device.minor} (/dev/mem, /dev/port, /dev/kmsg, ...), which takes no JSON document: name the FILE to write`,
  );
}

/** A device number's major and minor, as glibc's gnu_dev_major / gnu_dev_minor split it. */
function deviceNumbers(rdev: bigint): { major: bigint; minor: bigint } {
  return {
    major: ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn),
    minor: (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn),
  };
}

/** Whether `path` leads to a socket: not when nothing is there, nor through a loop (ELOOP) or a file. */
function isSocket(path: string): boolean {
  try {
    return statSync(path).isSocket();
  } catch {
    return false;
  }
}

/** Whether this user may open `path` for writing (access W_OK). */
function mayWrite(path: string): boolean {
  try {
    accessSync(path, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

/** Whether following `path`'s links never ends (ELOOP). */
function loops(path: string): boolean {
  try {
    statSync(path);
    return false;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "ELOOP";
  }
}

/**
 * Where `path` leads: its nearest existing ancestor's real path (links followed), the rest as written. A
 * link to nothing yet leads where it points, as what is written through it does (output.ts's writeWhole).
 */
function landing(path: string, hops = 0): string {
  const absolute = resolve(path);
  let ancestor = absolute;
  while (!existsSync(ancestor)) {
    // Below 40 hops, as the kernel's: a loop of links leads nowhere, and nothing is written through it.
    if (hops < 40 && isLink(ancestor)) {
      const target = resolve(realpathSync(dirname(ancestor)), readlinkSync(ancestor));
      return landing(join(target, relative(ancestor, absolute)), hops + 1);
    }
    ancestor = dirname(ancestor);
  }
  try {
    return join(realpathSync(ancestor), relative(ancestor, absolute));
  } catch {
    return absolute; // a link to what has no path (/dev/stdout on a pipe): nothing of --out's
  }
}

/** `path` exists or can be made: `from`, or its nearest existing ancestor, is a directory this user may write. */
function checkCreatable(flag: string, path: string, from = resolve(dirname(path))): void {
  refuseTooLong(flag, path);
  let ancestor = from;
  while (!existsSync(ancestor)) {
    if (isLink(ancestor)) refuseLinkToNothing(flag, path, ancestor, "which");
    ancestor = dirname(ancestor);
  }
  // Below a directory not made yet lstat said ENOENT of a name too long: each is tried where it is made.
  for (const name of [...relative(ancestor, from).split("/"), basename(path)])
    if (name) refuseTooLong(flag, path, join(ancestor, name));
  const writable = () => {
    try {
      // Searched too: a directory without x takes no new entry (EACCES), though access(W_OK) says yes.
      accessSync(ancestor, constants.W_OK | constants.X_OK);
      return true;
    } catch {
      return false;
    }
  };
  if (!statSync(ancestor).isDirectory() || !writable())
    throw failure(
      "PermissionDenied",
      `write ${flag} ${path}`,
      `${ancestor} is not a directory this user may write`,
    );
}

/** A name on the way longer than the file system allows (`probe` says so): it can never be made. */
function refuseTooLong(flag: string, path: string, probe = path): void {
  try {
    lstatSync(probe, { throwIfNoEntry: false });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENAMETOOLONG")
      throw failure(
        "InvalidArgument",
        `write ${flag} ${path}`,
        "a name on its path is longer than the file system allows (ENAMETOOLONG): pass a shorter one",
      );
  }
}

/** Whether `path` is a symbolic link: not when nothing is there, nor under a file (ENOTDIR, /etc/passwd/x). */
function isLink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

/**
 * A link to nothing on the way to an output passed the checks (its parent could be written), and the
 * output was lost after the run: mkdir makes no directory through it (EEXIST), and a file written through
 * it needs the directory it points into (ENOENT).
 */
function refuseLinkToNothing(
  flag: string,
  path: string,
  link: string,
  what: "which" | "whose directory",
): never {
  // Not "a link to itself, which does not exist: create it": a loop leads nowhere, whatever is created.
  if (loops(link))
    throw failure(
      "InvalidArgument",
      `write ${flag} ${path}`,
      `${link} is a loop of links, which leads nowhere: remove the loop, or pass another ${flag}`,
    );
  // From the directory the link is really in: reached through a link to it, "../x" is not beside that link.
  const target = resolve(realpathSync(dirname(link)), readlinkSync(link));
  throw failure(
    "NotFound",
    `write ${flag} ${path}`,
    `${link} is a link to ${target}, ${what} does not exist: create it, or pass another ${flag}`,
  );
}
