/**
 * The report's Fig. 2 reader loop (src/guest/report-loops.ts) as a script. Receives BYTES bytes from
 * fig1-writer into OUT; prints {"event":"received",...}.
 *
 *   bun examples/fig2-reader.ts OUT BYTES [--socket PATH] [--region PATH] [--size BYTES]
 */
import { parseArgs } from "node:util";
import { DEFAULT_AREA_BYTES, fig2Reader, sameAreaFlags } from "../src/guest/report-loops.ts";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    socket: { type: "string" },
    region: { type: "string" },
    size: { type: "string", default: String(DEFAULT_AREA_BYTES) },
  },
});
const [out, total] = [positionals[0], Number(positionals[1])];
if (!out || !Number.isSafeInteger(total))
  throw new Error("usage: fig2-reader.ts OUT BYTES [--socket PATH] [--region PATH] [--size BYTES]");
// Started alone it waited in silence: say, once, what it waits for and how to start the other end.
const onPeerAwaited = () =>
  console.error(
    `fig2-reader: waiting for a writer to make the area: start one with \`bun examples/fig1-writer.ts FILE${sameAreaFlags(values)}\` (FILE: the file of ${total} bytes to send), or Ctrl-C to give up`,
  );
// Ctrl-C: an OUT it made goes (no half file left behind), it says what became of OUT, and exits 130.
const stop = new AbortController();
process.once("SIGINT", () => stop.abort("it was interrupted by SIGINT"));
const result = await fig2Reader(out, total, {
  connect: { socket: values.socket, region: values.region },
  size: Number(values.size),
  onPeerAwaited,
  signal: stop.signal,
}).catch((error: Error) => {
  if (!stop.signal.aborted) throw error;
  console.error(`fig2-reader: ${error.message}`);
  process.exit(130);
});
console.log(JSON.stringify({ event: "received", ...result }));
