/**
 * A start binds its socket at a private name beside --socket (`SOCKET.~XXXXXX`) and links it into place
 * (src/host/socket-file.ts); a kill -9 between the two leaves the private name. The next start removes such
 * leftovers, and only those: not one still bound (another start's, between its bind and its link), not a
 * young one (another start may be about to bind it), not a file that is not a socket.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, utimesSync, writeFileSync } from "node:fs";
import { bindDatagramSocket } from "../src/ffi/fd-passing.ts";
import { closeFd } from "../src/ffi/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths;

beforeAll(() => {
  paths = testPaths("socket-leftovers");
});
afterAll(() => paths?.cleanup());

/** A socket file at `path` as a process killed after its bind leaves it: bound by nobody. */
function deadSocket(path: string, ageSeconds: number): void {
  closeFd(bindDatagramSocket(path));
  const when = Date.now() / 1000 - ageSeconds;
  utimesSync(path, when, when);
}

test("private socket names that kill -9 left are removed at the next start; others are left", async () => {
  const [dead, deadHandover, young, bound, notSocket] = [
    "a1b2c3",
    "d4e5f6",
    "0a0b0c",
    "0d0e0f",
    "abcdef",
  ].map((suffix) => `${paths.socket}.~${suffix}`);
  deadSocket(dead!, 600);
  deadSocket(deadHandover!, 3600);
  deadSocket(young!, 0);
  const stillBound = bindDatagramSocket(bound!);
  const old = Date.now() / 1000 - 600;
  utimesSync(bound!, old, old);
  writeFileSync(notSocket!, "someone's file\n");
  utimesSync(notSocket!, old, old);
  const arbiter = await ArbiterProcess.start(paths);
  try {
    expect({
      dead: existsSync(dead!),
      deadHandover: existsSync(deadHandover!),
      young: existsSync(young!),
      bound: existsSync(bound!),
      notSocket: existsSync(notSocket!),
    }).toEqual({ dead: false, deadHandover: false, young: true, bound: true, notSocket: true });
  } finally {
    closeFd(stillBound);
    await arbiter.stop();
  }
}, 60_000);
