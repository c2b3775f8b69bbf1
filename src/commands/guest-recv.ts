/** `ivsh guest recv`: receive one stream from a channel into a file or stdout. */
import { existsSync, statSync } from "node:fs";
import { isIvshError } from "../errors.ts";
import { log, refuseClosedStdout, writeStandard } from "../log.ts";
import { phase } from "../phases.ts";
import { descriptorNamed } from "../transfer/io.ts";
import { leftAside } from "../transfer/out-names.ts";
import { type SenderSetupFailure, senderFailedLine } from "../transfer/receiver-ring.ts";
import { receiveStream } from "../transfer/run.ts";
import { Sink } from "../transfer/sink.ts";
import {
  abortOnSignals,
  channelArgs,
  channelName,
  clientArgs,
  connectOptions,
  jsonArgs,
  peerWaitMs,
  progressArgs,
  waitArgs,
} from "./_args.ts";
import { EndSession } from "./_end-session.ts";
import { warnIfSlowMapping } from "./_mapping.ts";
import { progressMode, summaryJson, summaryLine, terminalProgress, writeFailureJson } from "./_progress.ts";
import { defineLeafCommand, UsageError } from "./_strict.ts";

export default defineLeafCommand({
  meta: {
    name: "recv",
    description: "Receive the next stream sent on the channel (either side may start first)",
  },
  args: {
    ...channelArgs,
    out: {
      type: "string",
      description:
        "Where to write it: a file (written as FILE.partial until verified; a symbolic link is written through to the file it names) or - for stdout",
      default: "-",
      valueHint: "FILE|-",
    },
    force: {
      type: "boolean",
      description:
        "Replace FILE if it exists, keeping its permissions, owner and group (once the new copy is verified)",
      default: false,
    },
    fsync: {
      type: "boolean",
      description:
        "Write FILE to disk (fsync) before it takes its name, and the name after: a machine that crashes then leaves no FILE short or empty (slower on a disk: 2 GiB took 0.9 s more on ext4; --out FILE only, not stdout)",
      default: false,
    },
    ...waitArgs,
    ...progressArgs,
    ...jsonArgs,
    ...clientArgs,
  },
  async run({ args }) {
    // With the data on stdout (- or a name of it, /dev/stdout), the JSON summary goes to stderr.
    const jsonFd = args.out === "-" || descriptorNamed(args.out) === 1 ? 2 : 1;
    let leftWarnings: string[] = []; // what a failed receive left, for --json too
    try {
      phase("recv: started");
      const channel = channelName(args.channel);
      // An empty name would write ".partial" in the current directory.
      if (args.out === "")
        throw new UsageError(
          "Failed to use --out '' since it is empty: name the file to write, or - for stdout",
        );
      // Said, not ignored: the user may think --force does something here it does not.
      if (args.force && (args.out === "-" || descriptorNamed(args.out) !== undefined))
        throw new UsageError(
          `Failed to use --force with --out ${args.out} since that is an open descriptor, not a file to replace: drop --force`,
        );
      if (args.fsync) refuseFsyncUnnamed(args.out);
      const waitMs = peerWaitMs(args.timeout);
      // Its result is written at the end: a stdout closed at start fails it before a file is written.
      if (args.json && jsonFd === 1) refuseClosedStdout();
      // Before FILE.partial exists: a Ctrl-C from then on is handled, and the file removed, not left behind.
      const signal = abortOnSignals();
      const connection = connectOptions(args, `recv ${args.out}`);
      const progress = terminalProgress(`recv ${args.out === "-" ? "stdout" : args.out}`, progressMode(args));
      warnLeftAside(args.out);
      let sink: Sink;
      try {
        const onWaiting = (what: string) => progress.waiting?.(what);
        sink = await Sink.openWhenRead(args.out, { force: args.force, signal, waitMs, onWaiting });
        sink.durable = args.fsync;
      } catch (error) {
        progress.done();
        throw error;
      }
      let committed = false;
      let failed: unknown;
      try {
        warnIfSlowMapping(connection);
        const session = await EndSession.open(
          connection,
          progress,
          waitMs,
          signal,
          "nothing had been transferred",
          args.quiet,
        );
        phase("recv: connected");
        try {
          const { client, renew } = session;
          // Warned, not only told at the --timeout: the sender's own user may not be watching it.
          const senderFailed = (failed: SenderSetupFailure) => {
            progress.done();
            log.warn(`${senderFailedLine(failed)}; waiting for another sender`);
          };
          const told = { ...progress, senderFailed };
          const result = await receiveStream(client, channel, sink, told, signal, waitMs, renew);
          phase("recv: stream kept");
          progress.done();
          committed = true;
          const left = namesLeft(sink, args.out);
          for (const warning of left) log.warn(warning);
          const summary = summaryJson("recv", channel, args.out, result, left);
          if (args.json) writeStandard(jsonFd, `${JSON.stringify(summary)}\n`);
          else if (!args.quiet) log.success(summaryLine("received", result));
          if (result.leftHeld) log.warn(result.leftHeld); // after the transfer, which stands
        } finally {
          await session.close();
          phase("recv: disconnected");
        }
      } catch (error) {
        failed = error;
        throw error;
      } finally {
        progress.done();
        if (!committed) leftWarnings = abandonSink(sink, jsonFd, failed);
      }
    } catch (error) {
      const head = { role: "recv", channel: args.channel, file: args.out } as const;
      if (args.json) writeFailureJson(jsonFd, head, error, leftWarnings);
      throw error;
    }
  },
});

/**
 * A receive that failed: what arrived is set aside (or left where it went), and the user told where. A
 * digest mismatch proves the bytes wrong: FILE.partial, as large as the whole stream, is removed.
 */
function abandonSink(sink: Sink, jsonFd: 1 | 2, failed: unknown): string[] {
  const said: string[] = [];
  const warn = (warning: string) => {
    said.push(warning);
    log.warn(warning);
  };
  const wrong = isIvshError(failed, "DigestMismatch");
  const left = sink.abandon({ wrong });
  warnUndone(sink, warn);
  // Stdout ("-", whose `writing` is "stdout"), a FIFO, a device: written straight, never removed.
  const stream = sink.target === "-" || sink.writing === sink.target;
  if (wrong && !left && !stream)
    warn(`the ${sink.written} bytes that arrived do not match what was sent: ${sink.writing} is removed`);
  // A verified copy that could not take its name: the error already says where it is.
  else if (left && !sink.verified && sink.unremoved)
    warn(
      `the ${sink.written} bytes that arrived are left in ${left}, unverified: it could not be removed ` +
        `(${sink.unremoved}); delete it yourself`,
    );
  else if (left && !sink.verified)
    warn(`the ${sink.written} bytes that arrived are left in ${left}, unverified`);
  // Bytes already out to a stream cannot be taken back: said so.
  else if (sink.written > 0 && stream) {
    const where = jsonFd === 2 ? "stdout" : sink.writing;
    const what = wrong ? "do not match what was sent" : "are an incomplete, unverified stream";
    warn(`the ${sink.written} bytes written to ${where} ${what}: discard them`);
  }
  return said;
}

/**
 * A keep undone (the verdict could not be told: frozen past the lease): the error is the lost session's,
 * which names no file; where the verified copy and the file it replaced are now is said here.
 */
function warnUndone(sink: Sink, warn: (warning: string) => void): void {
  const undone = sink.undone;
  if (undone?.copy)
    warn(
      `${undone.copy} is the received copy, whole and verified, but not confirmed to its sender (its keep ` +
        `was undone): move it where you want it, or receive again`,
    );
  const left = sink.undoLeft;
  // Linked back to FILE.partial, FILE not removed (the directory refused it): FILE is still the copy. The
  // file it replaced, if there was one (--force over a file), is said below: it stays aside.
  const notPutBack = undone?.aside ? ", so the file it replaced was not put back" : "";
  if (left?.final)
    warn(
      `${sink.target} is still a second name of the received copy: it could not be removed (${left.final})` +
        `${notPutBack}: delete ${sink.target} yourself`,
    );
  if (left?.aside)
    warn(
      `${left.aside.name} is a second name of the file ${sink.target} replaced, back at ${sink.target}: it ` +
        `could not be removed (${left.aside.why}): delete it yourself`,
    );
  if (!undone?.aside) return;
  // Not put back: FILE was not the copy any more when the undo looked (a file put there, or FILE removed),
  // or it still is (its removal refused, said above).
  const why = left?.final
    ? `${sink.target} is still the copy's`
    : existsSync(sink.target)
      ? `a file was put at ${sink.target} after the keep, and was not replaced`
      : `${sink.target} was removed after the keep, and it was not put back there`;
  warn(`${undone.aside}, the file ${sink.target} replaced, stays under that name: ${why}`);
}

/** The names of the file FILE replaced that the settled keep left (their removal refused): for the user to delete. */
function namesLeft(sink: Sink, out: string): string[] {
  const left: string[] = [];
  const stuck = sink.settle();
  if (stuck)
    left.push(
      `${stuck}, the file ${out} replaced, could not be removed (${sink.unremoved}): delete it yourself`,
    );
  // The keep stands (FILE is the copy); the old file kept a name the keep's swap gave it.
  if (sink.oldNameLeft)
    left.push(
      `${sink.writing} is the file ${out} replaced, not the received copy (that is ${out}): its name could not be removed (${sink.oldNameLeft}): delete it yourself`,
    );
  if (sink.copyNameLeft)
    left.push(
      `${sink.writing} is a second name of the received copy ${out}: it could not be removed (${sink.copyNameLeft}): delete it yourself`,
    );
  return left;
}

/** Said before the receive, so a refused one names them too: whose they are only the user can tell. */
function warnLeftAside(out: string): void {
  for (const left of leftAside(out))
    log.warn(
      `${left} exists: if a receive into ${out} was killed while it replaced the file, that is the file it ` +
        "replaced (the new copy, received whole and verified, took the name); ivsh never removes it: " +
        "delete it, or move it back, once you know which copy you want",
    );
}

/**
 * --fsync makes the verified copy durable before it takes FILE's name (a crash then leaves no FILE short or
 * empty). Stdout, a descriptor's name, a FIFO or a device takes no name: there the flag did nothing and said
 * nothing, and a user who had redirected stdout into a file believed it on disk.
 */
function refuseFsyncUnnamed(out: string): void {
  const what = out === "-" ? "stdout" : out;
  if (out !== "-" && descriptorNamed(out) === undefined && !otherThanFile(out)) return;
  throw new UsageError(
    `Failed to use --fsync with --out ${out} since ${what} is not a file ivsh names: --fsync writes the ` +
      "verified copy to disk before it takes its name, and there is no name to take; receive into a file with " +
      "--out FILE --fsync, or drop --fsync",
  );
}

/** Something other than a regular file is at `path` (a FIFO, a device); a missing one will be a file. */
function otherThanFile(path: string): boolean {
  try {
    const found = statSync(path, { throwIfNoEntry: false });
    // A directory is refused by the open, in its own words.
    return found !== undefined && !found.isFile() && !found.isDirectory();
  } catch {
    return false; // not looked up (EACCES, ENOTDIR): opening it says what is wrong
  }
}
