/** `ivsh guest send FILE|-`: stream a file or stdin through a channel. */
import { failure } from "../errors.ts";
import { log, refuseClosedStdout, writeStandard } from "../log.ts";
import { phase } from "../phases.ts";
import { Source } from "../transfer/io.ts";
import { chunkSizeProblem, MAX_RING_DEPTH, ringDepthProblem } from "../transfer/ring.ts";
import { DEFAULT_CHUNK_BYTES, DEFAULT_DEPTH } from "../transfer/ring-setup.ts";
import { DEFAULT_ROOM_WAIT_MS } from "../transfer/room-wait.ts";
import { FILE_RING, sendStream } from "../transfer/run.ts";
import { formatBytes, formatDuration, parseCount, parseSize } from "../units.ts";
import {
  abortOnSignals,
  channelArgs,
  channelName,
  checkFlag,
  clientArgs,
  connectOptions,
  jsonArgs,
  peerWaitMs,
  progressArgs,
  refuseEmptyFile,
  waitArgs,
} from "./_args.ts";
import { EndSession } from "./_end-session.ts";
import { warnIfSlowMapping } from "./_mapping.ts";
import { progressMode, summaryJson, summaryLine, terminalProgress, writeFailureJson } from "./_progress.ts";
import { defineLeafCommand } from "./_strict.ts";

/**
 * --chunk-size (or its old name --block-size) and --depth, checked as the ring will check them, before
 * anything is opened; errors name the flag the user typed.
 */
function ringFlags(args: { "chunk-size"?: string; "block-size"?: string; depth?: string }): {
  chunkBytes?: number;
  depth?: number;
} {
  if (args["chunk-size"] !== undefined && args["block-size"] !== undefined)
    throw failure(
      "InvalidArgument",
      "use --chunk-size and --block-size together",
      "--block-size is --chunk-size's old name: pass one of them",
    );
  const [flag, chunk] =
    args["block-size"] !== undefined
      ? ["--block-size", args["block-size"]]
      : ["--chunk-size", args["chunk-size"]];
  // Neither given: the transfer picks the ring's shape for its source (sendStream).
  const ring: { chunkBytes?: number; depth?: number } = {};
  if (chunk !== undefined) {
    ring.chunkBytes = parseSize(chunk, flag);
    const chunkProblem = chunkSizeProblem(ring.chunkBytes);
    if (chunkProblem) throw failure("InvalidArgument", `use ${flag} ${chunk}`, chunkProblem);
  }
  if (args.depth !== undefined) {
    // 0 and 1 are whole numbers the ring refuses: its message names the range.
    ring.depth = parseCount(args.depth, "--depth", {
      allowZero: true,
      accepts: `from 2 to ${MAX_RING_DEPTH}`,
    });
    const depthProblem = ringDepthProblem(ring.depth);
    if (depthProblem) throw failure("InvalidArgument", `use --depth ${args.depth}`, depthProblem);
  }
  return ring;
}

export default defineLeafCommand({
  meta: { name: "send", description: "Send FILE (or - for stdin) to whoever receives on the channel" },
  args: {
    file: { type: "positional", description: "File to send, or - for stdin", required: true },
    ...channelArgs,
    "chunk-size": {
      type: "string",
      description: `Chunk size: bytes moved per hand-off (default ${formatBytes(DEFAULT_CHUNK_BYTES)}; ${formatBytes(FILE_RING.chunkBytes)} for a regular file, unless --depth is given; halved to fit a small region, or what is left of it or of a quota, when neither is)`,
      valueHint: "SIZE",
    },
    // The old name, kept working: on `ivsh host` --block-size means the allocation unit.
    "block-size": {
      type: "string",
      description: "The same as --chunk-size (its old name)",
      valueHint: "SIZE",
    },
    depth: {
      type: "string",
      valueHint: "N",
      description: `Chunks in the ring: how far the sender may run ahead (default ${DEFAULT_DEPTH}; ${FILE_RING.depth} for a regular file, unless --chunk-size is given)`,
    },
    ...waitArgs,
    timeout: {
      ...waitArgs.timeout,
      // --timeout bounds the wait for room too (room-wait.ts), which only a sender has.
      description: `${waitArgs.timeout.description}; room in the region (or the VM's quota) for the ring, which other clients hold now, is waited for as long (${formatDuration(DEFAULT_ROOM_WAIT_MS)} without --timeout)`,
    },
    ...progressArgs,
    ...jsonArgs,
    ...clientArgs,
  },
  async run({ args }) {
    try {
      phase("send: started");
      const channel = channelName(args.channel);
      refuseEmptyFile("FILE", args.file, "the file to send, or - for stdin");
      const ring = checkFlag(() => ringFlags(args));
      const mode = progressMode(args);
      // Its result is written at the end: a stdout closed at start fails the send before it starts.
      if (args.json) refuseClosedStdout();
      const waitMs = peerWaitMs(args.timeout);
      // A region other transfers fill is waited on for room too: up to --timeout, or as for an arbiter away.
      const roomWaitMs = waitMs ?? DEFAULT_ROOM_WAIT_MS;
      const options = { ...ring, peerWaitMs: waitMs, roomWaitMs, signal: abortOnSignals() };
      // The flags first (a bad --connect is a usage error), then the file.
      const connection = connectOptions(args, `send ${args.file}`);
      const source = Source.open(args.file);
      warnIfSlowMapping(connection);
      const progress = terminalProgress(`send ${args.file}`, mode, args.quiet);
      const session = await EndSession.open(
        connection,
        progress,
        options.peerWaitMs,
        options.signal,
        "no receiver had been seen to join",
        args.quiet,
      );
      phase("send: connected");
      try {
        const { client, renew } = session;
        const result = await sendStream(client, channel, source, { ...options, renew }, progress);
        progress.done();
        if (args.json)
          writeStandard(1, `${JSON.stringify(summaryJson("send", channel, args.file, result))}\n`);
        else if (!args.quiet) log.success(summaryLine("sent", result));
        if (result.leftHeld) log.warn(result.leftHeld); // after the transfer, which stands
      } finally {
        progress.done();
        source.close();
        await session.close();
        phase("send: disconnected");
      }
    } catch (error) {
      if (args.json) writeFailureJson(1, { role: "send", channel: args.channel, file: args.file }, error);
      throw error;
    }
  },
});
