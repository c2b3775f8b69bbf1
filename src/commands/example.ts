/**
 * `ivsh example ...` (hidden): the report's Fig. 1 / Fig. 2 loops (src/guest/report-loops.ts) and the
 * mapping probe, runnable from the compiled binary, which is all a test VM has. Each prints one JSON
 * line on stdout, as the bun scripts in examples/ do.
 */
import { defineCommand } from "citty";
import { findIvshmemDevice } from "../guest/device.ts";
import { probeDevice } from "../guest/probe.ts";
import { DEFAULT_AREA_BYTES, fig1Writer, fig2Reader } from "../guest/report-loops.ts";
import { parseSize } from "../units.ts";
import { checkFlag, clientArgs, connectOptions } from "./_args.ts";
import { warnIfSlowMapping } from "./_mapping.ts";
import { defineLeafCommand } from "./_strict.ts";

const areaArgs = {
  size: {
    type: "string",
    description: "Bytes of the shared area, the 'data available' byte included",
    default: String(DEFAULT_AREA_BYTES),
  },
} as const;

const writer = defineLeafCommand({
  meta: { name: "fig1-writer", description: "The report's Fig. 1 writer loop: send FILE to fig2-reader" },
  args: {
    file: { type: "positional", description: "File to send", required: true },
    ...areaArgs,
    ...clientArgs,
  },
  async run({ args }) {
    const connect = connectOptions(args, "fig1-writer");
    warnIfSlowMapping(connect);
    const size = checkFlag(() => parseSize(args.size, "--size"));
    const result = await fig1Writer(args.file, { connect, size });
    process.stdout.write(`${JSON.stringify({ event: "sent", ...result })}\n`);
  },
});

const reader = defineLeafCommand({
  meta: { name: "fig2-reader", description: "The report's Fig. 2 reader loop: receive BYTES into OUT" },
  args: {
    out: { type: "positional", description: "File to write", required: true },
    bytes: { type: "positional", description: "How many bytes the writer sends", required: true },
    ...areaArgs,
    ...clientArgs,
  },
  async run({ args }) {
    const connect = connectOptions(args, "fig2-reader");
    warnIfSlowMapping(connect);
    const total = checkFlag(() => parseSize(args.bytes, "BYTES"));
    const size = checkFlag(() => parseSize(args.size, "--size"));
    const result = await fig2Reader(args.out, total, { connect, size });
    process.stdout.write(`${JSON.stringify({ event: "received", ...result })}\n`);
  },
});

const probe = defineLeafCommand({
  meta: {
    name: "mapping-probe",
    description: "Measure the IVSHMEM device's resource2 and resource2_wc mappings as connect() does",
  },
  args: { "sysfs-root": clientArgs["sysfs-root"] },
  run({ args }) {
    const figures = probeDevice(findIvshmemDevice(args["sysfs-root"]));
    process.stdout.write(`${JSON.stringify({ event: "probe", ...figures })}\n`);
  },
});

export default defineCommand({
  meta: { name: "example", hidden: true, description: "The report's example loops and the mapping probe" },
  subCommands: { "fig1-writer": writer, "fig2-reader": reader, "mapping-probe": probe },
});
