/** `ivsh demo`: README command 1. Everything on one machine, cleaned up afterwards. */

import { middleSample } from "../bench/stats.ts";
import { LEAST_DEMO_BYTES, type MethodResult, runDemo } from "../demo/demo.ts";
import { failure } from "../errors.ts";
import { log, refuseClosedStdout, writeStandard } from "../log.ts";
import { formatBytes, parseCount, parseSize } from "../units.ts";
import { checkFlag } from "./_args.ts";
import { onStopSignals } from "./_exit.ts";
import { stopAtOnce } from "./_stop-at-once.ts";
import { defineLeafCommand } from "./_strict.ts";

export default defineLeafCommand({
  meta: {
    name: "demo",
    description:
      "Move a generated file through ivsh between two processes and compare with a Unix-socket copy",
  },
  args: {
    size: { type: "string", description: "Size of the generated file", default: "1GiB", valueHint: "SIZE" },
    rounds: {
      type: "string",
      valueHint: "N",
      description: "Transfers per method (alternating order; the median is reported)",
      default: "3",
    },
  },
  async run({ args }) {
    const bytes = checkFlag(() => demoSize(args.size));
    // Its result is written after the transfers: a stdout closed at start fails it before they run.
    refuseClosedStdout();
    const rounds = checkFlag(() => parseCount(args.rounds, "--rounds"));
    const result = await runDemo({
      bytes,
      rounds,
      signal: interruptOnSignals(),
      note: (message) => log.info(message),
    });
    writeStandard(1, demoSummary(bytes, result));
  },
});

/** What the demo prints: each method's median rate and time, and how many times the socket's rate ivsh's is. */
export function demoSummary(bytes: number, result: { ivsh: MethodResult; socket: MethodResult }): string {
  const ivsh = middleSample(result.ivsh.seconds);
  const socket = middleSample(result.socket.seconds);
  const lines = [
    "",
    `  ${formatBytes(bytes)} file, from one process to another, ${roundsText(result.ivsh.seconds.length)}:`,
    `    ivsh          ${rate(bytes, ivsh)}   (${ivsh.toFixed(3)} s, digest ${result.ivsh.digest} verified)`,
    `    unix socket   ${rate(bytes, socket)}   (${socket.toFixed(3)} s)`,
    `    ivsh is ${(socket / ivsh).toFixed(1)}x the Unix socket's rate; both receivers got exactly the original`,
    "    (receivers check the data, then discard it: see the demo's notes in the README)",
    "",
  ];
  return `${lines.join("\n")}\n`;
}

/**
 * The first stop signal aborts the demo: it stops its children and removes its files as it unwinds. A
 * second one while it does (an impatient second Ctrl-C) ended it by the signal's default action, without a
 * word, its file and region left in /dev/shm: it now ends the children and removes those at once, saying so.
 */
function interruptOnSignals(): AbortSignal {
  const controller = new AbortController();
  onStopSignals((name) => {
    if (!controller.signal.aborted) return controller.abort(`it was interrupted by ${name}`);
    stopAtOnce("the demo", controller.signal.reason);
  });
  return controller.signal;
}

function demoSize(text: string): number {
  const bytes = parseSize(text, "--size");
  if (bytes < LEAST_DEMO_BYTES)
    throw failure(
      "InvalidArgument",
      `use --size ${text}`,
      `it must be at least ${formatBytes(LEAST_DEMO_BYTES)}: a smaller file moves too fast for its rate to mean anything`,
    );
  return bytes;
}

/** "1 round", "3 rounds (median)": one round has no median to speak of. */
function roundsText(rounds: number): string {
  return rounds === 1 ? "1 round" : `${rounds} rounds (median)`;
}

function rate(bytes: number, seconds: number): string {
  return `${(bytes / seconds / 1e9).toFixed(2).padStart(6)} GB/s`;
}
