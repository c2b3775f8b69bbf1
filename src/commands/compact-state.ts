/**
 * `ivsh compact-state` (hidden): the arbiter's helper process that rewrites its --state journal as a
 * snapshot off the arbiter's event loop (src/host/compaction.ts). Prints the snapshot's record count, how
 * far into the journal the file it wrote reaches, and the records it copied after the snapshot.
 */
import { SIGKILL } from "node:constants";
import { statSync } from "node:fs";
import { failure } from "../errors.ts";
import { backgroundPriority, errnoOf, exitWithParent } from "../ffi/index.ts";
import { compactJournal, formatResult } from "../host/compaction.ts";
import { parseCount } from "../units.ts";
import { checkFlag } from "./_args.ts";
import { defineLeafCommand, UsageError } from "./_strict.ts";

export default defineLeafCommand({
  meta: {
    name: "compact-state",
    description: "Snapshot an arbiter's state journal (the arbiter runs it)",
    hidden: true,
  },
  args: {
    state: { type: "string", description: "The --state journal", required: true, valueHint: "FILE" },
    upto: {
      type: "string",
      description: "Bytes of it to replay (they end at a record)",
      required: true,
      valueHint: "N",
    },
    arbiter: {
      type: "string",
      description: "Pid of the arbiter that asked (the helper ends if it is gone)",
      required: true,
      valueHint: "PID",
    },
    out: { type: "string", description: "Where to write the snapshot", required: true, valueHint: "FILE" },
  },
  run({ args }) {
    // Its result is only of use to the arbiter that asked for it; checked after asking, in case the
    // arbiter died before the kernel could be told to end us with it.
    exitWithParent(SIGKILL);
    const arbiter = checkFlag(() => parseCount(args.arbiter, "--arbiter"));
    const upto = checkFlag(() => parseCount(args.upto, "--upto"));
    refuseOutOnState(args.state, args.out);
    if (process.ppid !== arbiter)
      throw failure(
        "PeerGone",
        "compact the state journal",
        alive(arbiter)
          ? `pid ${arbiter} did not start it (a running arbiter starts this helper itself, when its journal needs it)`
          : `the arbiter that asked (pid ${arbiter}) is gone`,
      );
    // A second or more of parsing that should not take a core from the arbiter or its clients.
    backgroundPriority();
    const result = compactJournal(args.state, upto, args.out);
    process.stdout.write(formatResult(result));
  },
});

/**
 * An --out that is the --state journal, however named (./FILE, a symlink, a hard link): the snapshot is
 * written to --out opened for writing, which empties it first, so the journal being read was lost.
 */
function refuseOutOnState(state: string, out: string): void {
  const journal = statSync(state, { throwIfNoEntry: false });
  const target = statSync(out, { throwIfNoEntry: false });
  if (journal && target && journal.dev === target.dev && journal.ino === target.ino)
    throw new UsageError(
      `Failed to use --out ${out} since it is the --state journal itself (${state}): the snapshot goes to a new file, which the arbiter then renames over the journal`,
    );
}

/** Whether a process `pid` exists (EPERM: it does, as another user's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoOf(error) === "EPERM";
  }
}
