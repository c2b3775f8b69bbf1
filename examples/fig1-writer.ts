/**
 * The report's Fig. 1 writer loop (src/guest/report-loops.ts) as a script. Sends FILE through one shared
 * area to fig2-reader; prints {"event":"sent",...} when the reader has taken the last chunk.
 *
 *   bun examples/fig1-writer.ts FILE [--socket PATH] [--region PATH] [--size BYTES]
 */
import { statSync } from "node:fs";
import { parseArgs } from "node:util";
import { DEFAULT_AREA_BYTES, fig1Writer, sameAreaFlags } from "../src/guest/report-loops.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    socket: { type: "string" },
    region: { type: "string" },
    size: { type: "string", default: String(DEFAULT_AREA_BYTES) },
  },
});
const file = positionals[0];
if (!file) throw new Error("usage: fig1-writer.ts FILE [--socket PATH] [--region PATH] [--size BYTES]");
const bytes = statSync(file).size;
// Started alone it waited in silence: say, once, what it waits for and how to start the other end.
const onPeerAwaited = () =>
  console.error(
    `fig1-writer: waiting for a reader to take the first chunk: start one with \`bun examples/fig2-reader.ts OUT ${bytes}${sameAreaFlags(values)}\` (OUT: where it writes this file of ${bytes} bytes), or Ctrl-C to give up`,
  );
// Ctrl-C: its session ended (its reader is told it left), it says so and exits 130.
const stop = new AbortController();
process.once("SIGINT", () => stop.abort("it was interrupted by SIGINT"));
const result = await fig1Writer(file, {
  connect: { socket: values.socket, region: values.region },
  size: Number(values.size),
  onPeerAwaited,
  signal: stop.signal,
}).catch((error: Error) => {
  if (!stop.signal.aborted) throw error;
  console.error(`fig1-writer: ${error.message}`);
  process.exit(130);
});
console.log(JSON.stringify({ event: "sent", ...result }));
