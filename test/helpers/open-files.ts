/** What another process has open, read from /proc: a test waits for a transfer's end to be at a point. */
import { readdirSync, readFileSync, readlinkSync } from "node:fs";

/**
 * Waits (20 s at most: a liveness bound) until `pid` has `file` open and, if asked, has read at least
 * `readBytes` of it (its fd's position) or mapped it (a sender maps a regular file's whole pieces:
 * src/transfer/mapped-file.ts, and copies from the mapping at once).
 */
export async function waitUntilOpen(pid: number, file: string, readBytes = 0): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline) {
    try {
      const fds = readdirSync(`/proc/${pid}/fd`);
      const fd = fds.find((each) => safeReadlink(`/proc/${pid}/fd/${each}`) === file);
      if (fd !== undefined && (positionOf(pid, fd) >= readBytes || maps(pid, file))) return;
    } catch {
      // not started yet, or gone: the exit check after this reports which
    }
    await Bun.sleep(10);
  }
  throw new Error(
    `process ${pid} did not open ${file} (and read ${readBytes} bytes of it or map it) within 20 s`,
  );
}

/** Whether `pid` has `file` mapped (/proc/PID/maps names the file at the end of its line). */
function maps(pid: number, file: string): boolean {
  return readFileSync(`/proc/${pid}/maps`, "utf8")
    .split("\n")
    .some((line) => line.endsWith(` ${file}`));
}

function positionOf(pid: number, fd: string): number {
  const match = /^pos:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/fdinfo/${fd}`, "utf8"));
  return Number(match?.[1] ?? 0);
}

function safeReadlink(path: string): string | undefined {
  try {
    return readlinkSync(path);
  } catch {
    return undefined;
  }
}
