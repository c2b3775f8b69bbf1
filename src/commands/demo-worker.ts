/** `ivsh demo-worker`: the two ends of the demo's Unix-socket copy (hidden; the demo runs it). */
import { receiveOverSocket, sendOverSocket } from "../demo/socket-copy.ts";
import { defineLeafCommand } from "./_strict.ts";

export default defineLeafCommand({
  meta: { name: "demo-worker", description: "One end of the demo's Unix-socket copy", hidden: true },
  args: {
    role: { type: "positional", description: "socket-send or socket-recv", required: true },
    socket: { type: "positional", description: "Unix socket path", required: true },
    file: { type: "positional", description: "File to send, or to write", required: true },
  },
  async run({ args }) {
    if (args.role === "socket-recv") {
      const result = await receiveOverSocket(args.socket, args.file, () => {});
      process.stdout.write(`${JSON.stringify(result)}\n`);
    } else {
      const bytes = await sendOverSocket(args.socket, args.file);
      process.stdout.write(`${JSON.stringify({ bytes })}\n`);
    }
  },
});
