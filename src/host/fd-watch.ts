/**
 * Whether the arbiter has run out of file descriptors. Bun's listener says nothing when accept(2) fails
 * with EMFILE: the arbiter just stops answering new clients. So each sweep opens /dev/null and closes it
 * again; if that fails with EMFILE (or ENFILE, the whole system's limit), accept fails too, and the
 * operator is told, at most once per LOG_EVERY_MS, with the limit to raise.
 */
import { closeSync, openSync, readFileSync } from "node:fs";
import { errnoOf } from "../ffi/index.ts";
import { log } from "../log.ts";

const LOG_EVERY_MS = 10_000;

export class DescriptorWatch {
  private loggedAtMs = Number.NEGATIVE_INFINITY;
  /** Read now: once descriptors run out, /proc/self/limits cannot be opened to read it. */
  private readonly limit = openFilesLimit();

  /** Logs (rate-limited) if no descriptor can be opened now. */
  check(): void {
    let errno: string;
    try {
      closeSync(openSync("/dev/null", "r"));
      return;
    } catch (error) {
      errno = errnoOf(error);
    }
    if (errno !== "EMFILE" && errno !== "ENFILE") return;
    if (performance.now() - this.loggedAtMs < LOG_EVERY_MS) return;
    this.loggedAtMs = performance.now();
    log.error(
      errno === "EMFILE"
        ? `cannot accept connections: too many open files (EMFILE); raise ulimit -n (now ${this.limit}) or close idle clients`
        : "cannot accept connections: the system's file table is full (ENFILE); raise fs.file-max or close files elsewhere",
    );
  }
}

/** The soft RLIMIT_NOFILE, from /proc (Node has no getrlimit); "?" where it cannot be read. */
function openFilesLimit(): string {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((text) => text.startsWith("Max open files"));
    return line?.split(/\s{2,}/)[1] ?? "?";
  } catch {
    return "?";
  }
}
