/** `ivsh guest`: a client's commands, the same in a VM and on the host. */
import { defineCommand } from "citty";

export default defineCommand({
  meta: {
    name: "guest",
    description: "Move files and streams through the shared region (in a VM or on the host)",
  },
  subCommands: {
    send: () => import("./guest-send.ts").then((loaded) => loaded.default),
    recv: () => import("./guest-recv.ts").then((loaded) => loaded.default),
  },
});
