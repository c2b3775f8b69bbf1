/** `ivsh bridge`: what QEMU's guestfwd runs for each guest connection (see scripts/qemu/launch.sh). */
import { runBridge } from "../host/bridge.ts";
import { socketArgs, socketPath } from "./_args.ts";
import { defineLeafCommand } from "./_strict.ts";

export default defineLeafCommand({
  meta: {
    name: "bridge",
    description: "Relay one guest connection (stdin/stdout) to the arbiter, vouching for the VM's name",
  },
  args: {
    vm: {
      type: "string",
      description: "Name of the VM this connection comes from (set by the host, not the guest)",
      required: true,
    },
    ...socketArgs,
  },
  async run({ args }) {
    const stdout = Bun.stdout.writer();
    await runBridge(args.vm, socketPath(args), { input: Bun.stdin.stream(), output: stdout });
    await stdout.end();
  },
});
