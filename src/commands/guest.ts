/**
 * `ivsh guest`: a client's commands, the same in a VM and on the host. Loaded with the CLI itself, not on
 * demand: they are what starts most often and most in a hurry (see scripts/build.ts).
 */
import { defineCommand } from "citty";
import guestRecv from "./guest-recv.ts";
import guestSend from "./guest-send.ts";

export default defineCommand({
  meta: {
    name: "guest",
    description: "Move files and streams through the shared region (in a VM or on the host)",
  },
  subCommands: {
    send: guestSend,
    recv: guestRecv,
  },
});
