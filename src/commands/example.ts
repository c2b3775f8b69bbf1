/**
 * `ivsh example ...`: the report's Fig. 1 / Fig. 2 loops (src/guest/report-loops.ts) and the mapping
 * probe, runnable from the compiled binary, which is all a test VM has. Each prints one JSON line on
 * stdout, as the bun scripts in examples/ do.
 */
import { statSync } from "node:fs";
import { defineCommand } from "citty";
import { failure, isIvshError } from "../errors.ts";
import { findIvshmemDevice } from "../guest/device.ts";
import { probeDevice } from "../guest/probe.ts";
import { DEFAULT_AREA_BYTES, fig1Writer, fig2Reader, sameAreaFlags } from "../guest/report-loops.ts";
import { log, refuseClosedStdout, writeStandard } from "../log.ts";
import { parseSize } from "../units.ts";
import { abortOnSignals, checkFlag, clientArgs, connectOptions, refuseEmptyFile } from "./_args.ts";
import { warnIfSlowMapping } from "./_mapping.ts";
import { defineLeafCommand } from "./_strict.ts";

const areaArgs = {
  size: {
    type: "string",
    description: "Bytes of the shared area, the 'data available' byte included",
    default: String(DEFAULT_AREA_BYTES),
    valueHint: "SIZE",
  },
} as const;

/** The area holds the "data available" byte and at least one byte of data. */
function areaSize(value: string): number {
  return checkFlag(() => {
    const size = parseSize(value, "--size");
    if (size < 2)
      throw failure(
        "InvalidArgument",
        `use --size ${value}`,
        "the area needs its flag byte and at least one byte of data",
      );
    return size;
  });
}

/** FILE's size, for a notice said from a timer: a file gone meanwhile is "BYTES", not a bug report. */
function sizeForNotice(file: string): number | string {
  try {
    return statSync(file).size;
  } catch {
    return "BYTES";
  }
}

const writer = defineLeafCommand({
  meta: { name: "fig1-writer", description: "The report's Fig. 1 writer loop: send FILE to fig2-reader" },
  args: {
    file: { type: "positional", description: "File to send", required: true },
    ...areaArgs,
    ...clientArgs,
  },
  async run({ args }) {
    // Its result is written after the transfer: a stdout closed at start fails it before its peer waits.
    refuseEmptyFile("FILE", args.file, "the file to send");
    refuseClosedStdout();
    const connect = connectOptions(args, "fig1-writer");
    warnIfSlowMapping(connect);
    const size = areaSize(args.size);
    // Looked at only when said: a missing FILE is the loop's to refuse, in its words (cli-inputs).
    const onPeerAwaited = () => {
      const bytes = sizeForNotice(args.file);
      log.info(
        `waiting for a reader to take the first chunk: start one with \`ivsh example fig2-reader OUT ${bytes}${sameAreaFlags(args)}\` (OUT: where it writes this file of ${bytes} bytes), or Ctrl-C to give up`,
      );
    };
    // Ctrl-C said (exit 130), its session ended: it left at once, without a word.
    const signal = abortOnSignals();
    const result = await fig1Writer(args.file, { connect, size, onPeerAwaited, signal });
    writeStandard(1, `${JSON.stringify({ event: "sent", ...result })}\n`);
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
    refuseEmptyFile("OUT", args.out, "the file to write");
    refuseClosedStdout();
    const connect = connectOptions(args, "fig2-reader");
    warnIfSlowMapping(connect);
    const total = checkFlag(() => parseSize(args.bytes, "BYTES"));
    const size = areaSize(args.size);
    const onPeerAwaited = () =>
      log.info(
        `waiting for a writer to make the area: start one with \`ivsh example fig1-writer FILE${sameAreaFlags(args)}\` (FILE: the file of ${total} bytes to send), or Ctrl-C to give up`,
      );
    // Ctrl-C removes an OUT it made and says so (exit 130): it left an empty or half file behind, unsaid.
    const signal = abortOnSignals();
    const result = await fig2Reader(args.out, total, { connect, size, onPeerAwaited, signal });
    writeStandard(1, `${JSON.stringify({ event: "received", ...result })}\n`);
  },
});

const probe = defineLeafCommand({
  meta: {
    name: "mapping-probe",
    description: "Measure the IVSHMEM device's resource2 and resource2_wc mappings as connect() does",
  },
  args: { "sysfs-root": clientArgs["sysfs-root"] },
  run({ args }) {
    const device = guestDevice(args["sysfs-root"]);
    const figures = probeDevice(device);
    if (!figures)
      throw failure(
        "RegionInvalid",
        `probe the mappings of IVSHMEM device ${device.address}`,
        "it holds no ivsh region yet, and the probe writes to that region's scratch area: start `ivsh host` on " +
          "the host with the file behind the device (its --region), then probe again",
      );
    writeStandard(1, `${JSON.stringify({ event: "probe", ...figures })}\n`);
  },
});

/** The probe measures a guest's BAR: on the host (no device) there is nothing to measure, and --region is no help. */
function guestDevice(sysfsRoot: string) {
  try {
    return findIvshmemDevice(sysfsRoot);
  } catch (error) {
    if (!isIvshError(error, "DeviceNotFound")) throw error;
    throw failure(
      "DeviceNotFound",
      "probe the IVSHMEM device's mappings",
      `no PCI device 1af4:1110 is in ${sysfsRoot}/bus/pci/devices: run it in a VM started with -device ivshmem-plain (scripts/qemu/launch.sh in ivsh's source repository); a host process maps its region file, which has no mappings to compare`,
    );
  }
}

export default defineCommand({
  meta: { name: "example", description: "The report's example loops and the mapping probe" },
  subCommands: { "fig1-writer": writer, "fig2-reader": reader, "mapping-probe": probe },
});
