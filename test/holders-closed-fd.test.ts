/**
 * Naming the process listening on a socket (src/holders.ts socketListener) looks through each process's
 * descriptors. One closed between the listing of /proc/PID/fd and its readlink (a busy arbiter accepting
 * and closing connections; in the looking process, the listing's own descriptor) skipped the whole
 * process, and "another arbiter (pid N, COMMAND)" lost its pid. Here the listener is this process, and a
 * free descriptor number below the listener's makes the listing's own descriptor come first, every time.
 */
import { afterAll, expect, test } from "bun:test";
import { closeSync, mkdtempSync, openSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { socketListener } from "../src/holders.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-mut15-holders-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a descriptor closed while the process is looked through does not hide the listener behind it", () => {
  const path = join(dir, "listening.sock");
  // A descriptor number below the listener's, free again once the listener is open.
  const below = openSync("/dev/null", "r");
  const listener = Bun.listen({ unix: path, socket: { data() {} } });
  closeSync(below);
  try {
    expect(socketListener(path)).toMatch(new RegExp(`^ \\(pid ${process.pid}, \\S+\\)$`));
  } finally {
    listener.stop(true);
  }
});
