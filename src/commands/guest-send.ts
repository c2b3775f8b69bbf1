/** `ivsh guest send FILE|-`: stream a file or stdin through a channel. */
import { connect } from "../guest/client.ts";
import { log } from "../log.ts";
import { phase } from "../phases.ts";
import { Source } from "../transfer/io.ts";
import { sendStream } from "../transfer/run.ts";
import { DEFAULT_CHUNK_BYTES, DEFAULT_DEPTH } from "../transfer/sender.ts";
import { parseSize } from "../units.ts";
import { abortOnSignals, channelArgs, clientArgs, connectOptions, jsonArgs } from "./_args.ts";
import { warnIfSlowMapping } from "./_mapping.ts";
import { summaryJson, summaryLine, terminalProgress } from "./_progress.ts";
import { defineLeafCommand } from "./_strict.ts";

export default defineLeafCommand({
  meta: { name: "send", description: "Send FILE (or - for stdin) to whoever receives on the channel" },
  args: {
    file: { type: "positional", description: "File to send, or - for stdin", required: true },
    ...channelArgs,
    "block-size": {
      type: "string",
      description: "Chunk size: bytes moved per hand-off",
      default: String(DEFAULT_CHUNK_BYTES),
    },
    depth: {
      type: "string",
      description: "Chunks in the ring (how far the sender may run ahead)",
      default: String(DEFAULT_DEPTH),
    },
    ...jsonArgs,
    ...clientArgs,
  },
  async run({ args }) {
    phase("send: started");
    const options = {
      chunkBytes: parseSize(args["block-size"], "--block-size"),
      depth: parseSize(args.depth, "--depth"),
      signal: abortOnSignals(),
    };
    const source = Source.open(args.file);
    const connection = connectOptions(args, `send ${args.file}`);
    warnIfSlowMapping(connection);
    const client = await connect(connection);
    phase("send: connected");
    const progress = terminalProgress(`send ${args.file}`);
    try {
      const result = await sendStream(client, args.channel, source, options, progress);
      progress.done();
      if (args.json)
        process.stdout.write(`${JSON.stringify(summaryJson("send", args.channel, args.file, result))}\n`);
      else log.success(summaryLine("sent", result));
    } finally {
      progress.done();
      source.close();
      await client.close();
      phase("send: disconnected");
    }
  },
});
