/**
 * `ivsh guest`: a client's commands, the same in a VM and on the host. Loaded with the CLI itself, not on
 * demand: they are what starts most often and most in a hurry (see scripts/build.ts).
 */
import type { CommandDef } from "citty";
import guestRecv from "./guest-recv.ts";
import guestSend from "./guest-send.ts";

/** The leaf commands, which src/cli.ts runs without citty when their words are plain (./_quick-args.ts). */
export const guestCommands = { send: guestSend, recv: guestRecv };

// A plain object, not citty's defineCommand (which returns its argument): citty loads only when needed.
export default {
  meta: {
    name: "guest",
    description: "Move files and streams through the shared region (in a VM or on the host)",
  },
  subCommands: guestCommands,
} satisfies CommandDef;
