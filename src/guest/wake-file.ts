/**
 * The host's wake-up file (`REGION.wake`, src/region/mailbox.ts) as a client finds it: at its first hello,
 * and again after a restarted arbiter took over. That one serves the file at the region's path, made anew
 * if it was removed: a client that kept the removed one (or one replaced since) futex-parked where neither
 * that arbiter nor any client connecting since woke it, and waited each hand-off with them out to its
 * sleep's 16 ms slice, as before 32c47ac6.
 */
import { lstatSync, type Stats } from "node:fs";
import { errnoOf } from "../ffi/errno.ts";
import type { Geometry } from "../region/layout.ts";
import { mailboxPath, WakeMailbox } from "../region/mailbox.ts";
import type { Parker } from "./parking.ts";

type Opened = { mailbox: WakeMailbox | undefined; parking: string };

/**
 * This kernel's wake mailbox for a client of the region at `source`, unless turned off (the option, else
 * IVSH_FUTEX=0) or impossible here (then every park uses the arbiter); and where its waiters park, said
 * for the client's logs and bug reports (`Client.parking`; the arbiter and `ivsh status` never see it).
 */
export function openWakeMailbox(
  futexParking: boolean | undefined,
  { source }: { source: string },
  geometry: Geometry,
): Opened {
  if (!(futexParking ?? process.env.IVSH_FUTEX !== "0"))
    return { mailbox: undefined, parking: "arbiter only (futex parking turned off)" };
  try {
    const mailbox = WakeMailbox.open(source, geometry.slotCount, true);
    const parking = mailbox
      ? `futex in ${mailbox.path}, else the arbiter`
      : "arbiter only (no boot id or tmpfs to name this kernel by)";
    return { mailbox, parking };
  } catch (error) {
    const reason =
      errnoOf(error) === "ENOENT"
        ? `no wake-up file at ${mailboxPath(source)}, which the arbiter makes at its start: removed while it ran ` +
          "(ivsh status names it; restart the arbiter: this client parks on the one it makes as it resumes), or " +
          "the arbiter could not make it (its log says why), or the arbiter serves this file by another name (a " +
          "hard link, or the file alone bind-mounted: map it by the arbiter's --region path, or mount its directory)"
        : unusableFile(mailboxPath(source), error);
    return { mailbox: undefined, parking: `arbiter only (${reason})` };
  }
}

/** The kinds of file a wake-up file's name may hold instead, as a user would call them. */
const KINDS: [test: (stats: Stats) => boolean, kind: string][] = [
  [(stats) => stats.isDirectory(), "a directory"],
  [(stats) => stats.isSymbolicLink(), "a symbolic link"],
  [(stats) => stats.isFIFO(), "a FIFO"],
  [(stats) => stats.isSocket(), "a socket"],
  [(stats) => stats.isCharacterDevice() || stats.isBlockDevice(), "a device"],
];

/**
 * Why the file at `path` could not be parked on, and what to do, where the system call's words ("open
 * PATH: EISDIR") say neither: something put there in its place, or a mode an operator narrowed. Whether
 * the arbiter makes its file again once that is removed (one it could not make at its start) or needs a
 * restart (one it made, replaced since) only it knows: `ivsh status` says.
 */
function unusableFile(path: string | undefined, error: unknown): string {
  let stats: Stats | undefined;
  try {
    stats = path === undefined ? undefined : lstatSync(path, { throwIfNoEntry: false });
  } catch {
    // not to be looked at (its directory unsearchable): the system call's words stand
  }
  const kind = stats && KINDS.find(([test]) => test(stats))?.[1];
  if (kind)
    return (
      `${path} is ${kind}, not the arbiter's wake-up file: remove it, then \`ivsh status\` says whether the ` +
      "arbiter made its file there again or must be restarted (clients that connect since park on it; this one, once the arbiter restarts)"
    );
  if (errnoOf(error) === "EACCES")
    return (
      `this user may not open ${path} to read and write it (EACCES), which the arbiter makes so for every ` +
      `user: give it that mode back (chmod a+rw ${path})`
    );
  return (error as Error).message;
}

/**
 * After a resume with a restarted arbiter (a new epoch): parks on the file now at the region's path if it
 * is not the one parked on (removed or replaced), or if there was none (the arbiter had not made it, or it
 * was removed); in the arbiter if none can be opened there now, the one parked on being gone. Returns the
 * new parking fact, or undefined if nothing changed: the file still the same (one lstat, once per
 * restart), or still none to open (the restarted arbiter's log or status says why).
 */
export function followWakeFile(
  { region, geometry, parker }: { region: { source: string }; geometry: Geometry; parker: Parker },
  { futexParking }: { futexParking?: boolean | undefined },
): string | undefined {
  if (parker.mailbox?.stillAt()) return undefined; // a name it cannot look at (a search refused) too: kept
  const opened = openWakeMailbox(futexParking, region, geometry);
  // A removed file kept, nothing would wake it: the restarted arbiter and the clients since park and wake
  // in the arbiter, and each hand-off waited out the sleeper's 16 ms slice.
  if (!opened.mailbox && !parker.mailbox) return undefined;
  parker.useMailbox(opened.mailbox);
  return opened.parking;
}
