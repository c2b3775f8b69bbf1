/**
 * `ivsh compact-state` (hidden): the arbiter's helper process that rewrites its --state journal as a
 * snapshot off the arbiter's event loop (src/host/compaction.ts). Prints the snapshot's record count, how
 * far into the journal the file it wrote reaches, and the records it copied after the snapshot.
 */
import { SIGKILL } from "node:constants";
import { failure } from "../errors.ts";
import { backgroundPriority, errnoOf, exitWithParent } from "../ffi/index.ts";
import { compactJournal, formatResult } from "../host/compaction.ts";
import { parseCount } from "../units.ts";
import { checkFlag } from "./_args.ts";
import { defineLeafCommand } from "./_strict.ts";

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

/** Whether a process `pid` exists (EPERM: it does, as another user's). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return errnoOf(error) === "EPERM";
  }
}
