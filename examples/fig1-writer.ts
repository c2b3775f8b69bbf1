/**
 * The report's Fig. 1 writer loop (src/guest/report-loops.ts) as a script. Sends FILE through one shared
 * area to fig2-reader; prints {"event":"sent",...} when the reader has taken the last chunk.
 *
 *   bun examples/fig1-writer.ts FILE [--socket PATH] [--region PATH] [--size BYTES]
 */
import { parseArgs } from "node:util";
import { DEFAULT_AREA_BYTES, fig1Writer } from "../src/guest/report-loops.ts";

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
const result = await fig1Writer(file, {
  connect: { socket: values.socket, region: values.region },
  size: Number(values.size),
});
console.log(JSON.stringify({ event: "sent", ...result }));
