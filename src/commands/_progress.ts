/**
 * Transfer progress on stderr: a bar with rate and ETA on a terminal, redrawn at most every 100 ms;
 * nothing at all when stderr is not a terminal (logs and pipes get only the summary line).
 */

import { nativeStatus } from "../ffi/native.ts";
import { formatDigest } from "../transfer/digest.ts";
import type { Progress, TransferResult } from "../transfer/run.ts";
import { formatBytes, formatRate } from "../units.ts";

const REDRAW_MS = 100;
const BAR_WIDTH = 24;

export function terminalProgress(
  label: string,
  enabled = process.stderr.isTTY === true,
): Progress & { done(): void } {
  const started = performance.now();
  let lastDraw = 0;
  let drawn = false;
  const draw = (line: string) => {
    process.stderr.write(`\r\x1b[2K${line}`);
    drawn = true;
  };
  return {
    waiting(what) {
      if (enabled) draw(`${label}: waiting ${what}...`);
    },
    update(bytes, total) {
      const now = performance.now();
      if (!enabled || now - lastDraw < REDRAW_MS) return;
      lastDraw = now;
      const seconds = (now - started) / 1000;
      const rate = bytes / Math.max(seconds, 1e-3);
      draw(
        `${label}: ${bar(bytes, total)} ${formatBytes(bytes)}${total ? ` / ${formatBytes(total)}` : ""} ${formatRate(rate)}${eta(bytes, total, rate)}`,
      );
    },
    done() {
      if (drawn) process.stderr.write("\r\x1b[2K");
    },
  };
}

function bar(bytes: number, total: number | undefined): string {
  if (!total) return "";
  const filled = Math.round((Math.min(bytes, total) / total) * BAR_WIDTH);
  return `[${"#".repeat(filled)}${"-".repeat(BAR_WIDTH - filled)}] ${Math.floor((bytes / total) * 100)}%`;
}

function eta(bytes: number, total: number | undefined, rate: number): string {
  if (!total || rate <= 0) return "";
  const seconds = Math.max(0, (total - bytes) / rate);
  return ` ETA ${Math.floor(seconds / 60)}:${String(Math.round(seconds % 60)).padStart(2, "0")}`;
}

export function summaryLine(verb: string, result: TransferResult): string {
  return (
    `${verb} ${formatBytes(result.bytes)} (${result.bytes} bytes) in ${result.seconds.toFixed(3)} s, ` +
    `${formatRate(result.bytes / Math.max(result.seconds, 1e-9))}, ${result.records} chunk${result.records === 1 ? "" : "s"} of up to ` +
    `${formatBytes(result.chunkBytes)}, digest ${formatDigest(result.digest)} verified`
  );
}

export function summaryJson(role: "send" | "recv", channel: string, file: string, result: TransferResult) {
  return {
    role,
    channel,
    file,
    bytes: result.bytes,
    seconds: result.seconds,
    gbPerSecond: result.bytes / Math.max(result.seconds, 1e-9) / 1e9,
    chunks: result.records,
    chunkBytes: result.chunkBytes,
    depth: result.depth,
    digest: formatDigest(result.digest),
    verified: true,
    /** Whether the native copy+hash helper or the portable path computed the digest (and why). */
    digestPath: nativeStatus().detail,
  };
}
