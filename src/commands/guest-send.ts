/** `ivsh guest send FILE|-`: stream a file or stdin through a channel. */
import { failure } from "../errors.ts";
import { connect } from "../guest/client.ts";
import { log } from "../log.ts";
import { phase } from "../phases.ts";
import { Source } from "../transfer/io.ts";
import { ringGeometryProblem } from "../transfer/ring.ts";
import { sendStream } from "../transfer/run.ts";
import { DEFAULT_CHUNK_BYTES, DEFAULT_DEPTH } from "../transfer/sender.ts";
import { parseCount, parseSize } from "../units.ts";
import {
  abortOnSignals,
  channelArgs,
  checkFlag,
  clientArgs,
  connectOptions,
  jsonArgs,
  peerWaitMs,
  progressArgs,
  waitArgs,
} from "./_args.ts";
import { warnIfSlowMapping } from "./_mapping.ts";
import { progressMode, summaryJson, summaryLine, terminalProgress } from "./_progress.ts";
import { defineLeafCommand } from "./_strict.ts";

/** --chunk-size and --depth, checked as the ring will check them, before anything is opened. */
function ringFlags(chunk: string, depthText: string): { chunkBytes: number; depth: number } {
  const chunkBytes = parseSize(chunk, "--chunk-size");
  const depth = parseCount(depthText, "--depth");
  const problem = ringGeometryProblem(chunkBytes, depth);
  if (problem) throw failure("InvalidArgument", `use --chunk-size ${chunk} --depth ${depthText}`, problem);
  return { chunkBytes, depth };
}

export default defineLeafCommand({
  meta: { name: "send", description: "Send FILE (or - for stdin) to whoever receives on the channel" },
  args: {
    file: { type: "positional", description: "File to send, or - for stdin", required: true },
    ...channelArgs,
    "chunk-size": {
      type: "string",
      description: "Chunk size: bytes moved per hand-off",
      default: String(DEFAULT_CHUNK_BYTES),
    },
    // The old name, kept working: on `ivsh host` --block-size means the allocation unit.
    "block-size": { type: "string", description: "The same as --chunk-size (its old name)" },
    depth: {
      type: "string",
      description: "Chunks in the ring (how far the sender may run ahead)",
      default: String(DEFAULT_DEPTH),
    },
    ...waitArgs,
    ...progressArgs,
    ...jsonArgs,
    ...clientArgs,
  },
  async run({ args }) {
    phase("send: started");
    const ring = checkFlag(() => ringFlags(args["block-size"] ?? args["chunk-size"], args.depth));
    const options = { ...ring, peerWaitMs: peerWaitMs(args.timeout), signal: abortOnSignals() };
    const source = Source.open(args.file);
    const connection = connectOptions(args, `send ${args.file}`);
    warnIfSlowMapping(connection);
    const client = await connect(connection);
    phase("send: connected");
    const progress = terminalProgress(`send ${args.file}`, progressMode(args));
    try {
      const result = await sendStream(client, args.channel, source, options, progress);
      progress.done();
      if (args.json)
        process.stdout.write(`${JSON.stringify(summaryJson("send", args.channel, args.file, result))}\n`);
      else if (!args.quiet) log.success(summaryLine("sent", result));
    } finally {
      progress.done();
      source.close();
      await client.close();
      phase("send: disconnected");
    }
  },
});
