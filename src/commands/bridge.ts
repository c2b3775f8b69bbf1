/** `ivsh bridge`: what QEMU's guestfwd runs for each guest connection (see scripts/qemu/launch.sh). */
import { statSync } from "node:fs";
import { DEFAULT_GUEST_ARBITER } from "../defaults.ts";
import { failure, isIvshError } from "../errors.ts";
import { errnoOf, isTerminal } from "../ffi/index.ts";
import { QueueFull } from "../guest/link-errors.ts";
import { absoluteSocketPath } from "../guest/socket-name.ts";
import { NoArbiter, runBridge } from "../host/bridge.ts";
import { noteReached, noteRefused } from "../host/bridge-episodes.ts";
import { handOver, handoverObstacle, leftWithArbiter } from "../host/bridge-handover.ts";
import { HANDOVER_SUFFIX } from "../host/handover.ts";
import { log } from "../log.ts";
import { isVmName, VM_NAME_RULE } from "../protocol/messages.ts";
import { checkFlag, socketArgs, socketPath } from "./_args.ts";
import { EXIT_FAILED } from "./_exit.ts";
import { defineLeafCommand } from "./_strict.ts";

export default defineLeafCommand({
  meta: {
    name: "bridge",
    description:
      "Hand one guest connection (stdin/stdout) to the arbiter, vouching for the VM's name (or relay it)",
  },
  args: {
    vm: {
      type: "string",
      valueHint: "NAME",
      description:
        "Name of the VM this connection comes from (set by the host, not the guest); one per VM: two VMs given one name are one VM to the arbiter (its quotas, limits and status)",
      required: true,
    },
    ...socketArgs,
  },
  async run({ args }) {
    // The arbiter would refuse it, after the connection was handed over: a usage error instead, up front.
    checkFlag(() => {
      if (!isVmName(args.vm))
        throw failure("InvalidArgument", `use --vm '${args.vm}'`, `it is not a VM name: ${VM_NAME_RULE}`);
    });
    // Run by hand from a shell it would wait in silence for protocol bytes typed at the terminal.
    checkFlag(() => {
      if (isTerminal(0))
        throw failure(
          "InvalidArgument",
          "bridge a guest connection",
          "stdin is a terminal: `ivsh bridge` carries one guest connection on its stdin and stdout, and " +
            `QEMU starts it for each (guestfwd=tcp:${DEFAULT_GUEST_ARBITER}-cmd:..., as scripts/qemu/launch.sh in ivsh's source repository sets ` +
            "up); to check the arbiter from the host, run `ivsh status`",
        );
    });
    // Absolute where it fits: QEMU's directory is not the reader's, and bridges started from different
    // directories share one episode of refusals only under one name.
    const socket = absoluteSocketPath(socketPath(args), HANDOVER_SUFFIX);
    // Hand the connection over and exit when we can; relay it for its lifetime when we cannot. Nothing
    // may read stdin before this: the guest's first bytes must still be in the socket for the arbiter.
    const obstacle =
      process.env.IVSH_BRIDGE === "relay" ? "IVSH_BRIDGE=relay asks for relaying" : handoverObstacle();
    if (!obstacle) {
      try {
        await handOver(args.vm, socket);
        noteReached(socket);
        return;
      } catch (error) {
        if (leftWithArbiter(error)) throw error;
        // No arbiter at all, or one this user may not reach: the relay's own attempt says which, as an
        // error; "relaying instead" would mislead.
        if (!arbiterAbsent(error, socket))
          log.warn(
            `relaying the connection of VM '${args.vm}' instead of handing it over: ${describe(error)}`,
          );
      }
    }
    const stdout = Bun.stdout.writer();
    try {
      await runBridge(args.vm, socket, { input: Bun.stdin.stream(), output: stdout }, () =>
        noteReached(socket),
      );
    } catch (error) {
      // Expected while the arbiter is stopped, overloaded or restarting, and retried by the guest: once
      // per episode.
      if (!(error instanceof QueueFull || error instanceof NoArbiter)) throw error;
      noteRefused(socket, error, error instanceof QueueFull ? "queue full" : "no arbiter");
      process.exitCode = EXIT_FAILED;
    }
    await stdout.end();
  },
});

/**
 * No arbiter is running there: its socket or hand-over socket refuses (a dead arbiter's; or its queue of
 * connections to accept is full), or is missing along with a socket at its path; or this user may not
 * reach it (EACCES). Relaying meets each again, and says which. A missing hand-over socket beside a live
 * socket is an arbiter too old to take connections: relaying is right, and said.
 */
function arbiterAbsent(error: unknown, socket: string): boolean {
  if (isIvshError(error)) return false;
  const errno = errnoOf(error);
  return errno === "ECONNREFUSED" || errno === "EACCES" || (errno === "ENOENT" && !isSocket(socket));
}

/** A path this user may not even look at counts as none: the relay's attempt then says why. */
function isSocket(path: string): boolean {
  try {
    return statSync(path, { throwIfNoEntry: false })?.isSocket() ?? false;
  } catch {
    return false;
  }
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
