/**
 * `ivsh host --exit-with-parent`: the kernel signals the arbiter when its parent exits (PR_SET_PDEATHSIG),
 * but only a parent alive when the arbiter asks. One that died before (a spawner killed as the arbiter's
 * runtime loaded) left the arbiter reparented to init or a subreaper, whose pid tells nothing: the arbiter
 * then served on, with nobody to stop it. A process that starts the arbiter itself (no shell or fork in
 * between) names its own pid in IVSH_PARENT_PID, and an arbiter whose parent is another has lost it.
 */
import { readFileSync } from "node:fs";
import { failure } from "../errors.ts";
import { exitWithParent } from "../ffi/index.ts";

export const PARENT_PID_ENV = "IVSH_PARENT_PID";

const SIGTERM = 15;

/** The environment to add when this process starts `ivsh host --exit-with-parent` itself. */
export function asParentOfArbiter(): Record<string, string> {
  return { [PARENT_PID_ENV]: String(process.pid) };
}

/**
 * Has this process sent SIGTERM when its parent exits. Returns the pid of a parent that is gone already
 * (the one IVSH_PARENT_PID names, else the parent it had as this ran), undefined while it lives.
 */
export function followParent(): number | undefined {
  const named = process.env[PARENT_PID_ENV];
  // Not for this process's own children: they have another parent.
  delete process.env[PARENT_PID_ENV];
  // Without a name, the parent as this runs: 0 for pid 1 of a pid namespace, whose parent is outside it.
  const given = named !== undefined && named !== "";
  const expected = given ? Number(named) : process.ppid;
  if (given && !(Number.isSafeInteger(expected) && expected >= 1))
    throw failure(
      "InvalidArgument",
      `use ${PARENT_PID_ENV}='${named}'`,
      "it is not a process id (the pid of the process that starts ivsh host; unset it otherwise)",
    );
  exitWithParent(SIGTERM);
  // Read after prctl: a parent that died before it took effect would never send the signal.
  if (process.ppid === expected) return undefined;
  // A shell's $$ before `exec ivsh host`: that pid is now this process, its parent the shell's.
  if (given && expected === process.pid)
    throw failure(
      "InvalidArgument",
      `follow the process ${PARENT_PID_ENV} names (pid ${expected})`,
      `it is this process itself (a shell's $$ names the shell, which exec made ivsh host): name the process ` +
        `that starts it, its parent (pid ${process.ppid}; $PPID in a shell that execs ivsh host), or unset ${PARENT_PID_ENV}`,
    );
  // Named, alive, yet not the parent: a wrapper runs in between, and its exit, not the named one's, would
  // signal us. Stopping "as its parent exited" would be false, serving on would outlive the named process.
  if (given && isRunning(expected))
    throw failure(
      "InvalidArgument",
      `follow the process ${PARENT_PID_ENV} names (pid ${expected})`,
      `it is alive but not this process's parent (pid ${process.ppid}): something runs in between (timeout, sudo, ` +
        `unshare --fork...). Start ivsh host directly from pid ${expected}, or unset ${PARENT_PID_ENV}`,
    );
  return expected;
}

/** Whether `pid` runs: one that exited but is not reaped yet (a zombie) has gone as a parent. */
function isRunning(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ").at(-1) ?? "";
    return !state.startsWith("Z") && !state.startsWith("X");
  } catch {
    return false;
  }
}
