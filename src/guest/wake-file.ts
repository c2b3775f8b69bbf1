/**
 * The host's wake-up file (`REGION.wake`, src/region/mailbox.ts) as a client finds it: at its first hello,
 * and again after a restarted arbiter took over. That one serves the file at the region's path, made anew
 * if it was removed: a client that kept the removed one (or one replaced since) futex-parked where neither
 * that arbiter nor any client connecting since woke it, and waited each hand-off with them out to its
 * sleep's 16 ms slice, as before 32c47ac6.
 */
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
        : (error as Error).message;
    return { mailbox: undefined, parking: `arbiter only (${reason})` };
  }
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
