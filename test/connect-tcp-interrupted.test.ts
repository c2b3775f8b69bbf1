/**
 * Ctrl-C while a guest's command is still opening its TCP connection to the arbiter (a VM's guestfwd
 * address whose host is slow to take it; here a listener whose accept queue is full, so the kernel drops
 * the SYN and retries it for seconds). The connect itself looked at no signal: the command went on for
 * the rest of the connect's 3 s, then failed with "there was no answer within 3000 ms" (exit 1), as if
 * the arbiter were unreachable, not interrupted. Now the signal ends the connect at once, and the command
 * says it was interrupted (exit 130), as it does once connected.
 */
import { afterAll, beforeAll, expect } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, type TestPaths, testPaths } from "./helpers/paths.ts";
import { EventStream, eventually, spawnBun } from "./helpers/processes.ts";
import { FULL_LISTENER_PY, spawnPython, synSent } from "./helpers/tcp-backlog.ts";
import { testWithTool } from "./helpers/tools.ts";

/** A TCP listener with a backlog of one, filled at once by connections of its own: it takes no more. */
const FULL_LISTENER = `
import json, socket, sys
${FULL_LISTENER_PY}
sys.stdin.read()
`;

let paths: TestPaths;
beforeAll(() => {
  paths = testPaths("tcp-interrupted");
  writeFileSync(paths.region, Buffer.alloc(1 << 20));
});
afterAll(() => paths?.cleanup());

for (const [name, args] of [
  ["ivsh status", ["status"]],
  ["ivsh guest send", ["guest", "send", "--region", "REGION", "FILE"]],
] as const) {
  testWithTool(
    "python3",
    `${name} interrupted while its TCP connect hangs ends at once, saying it was interrupted`,
    async () => {
      const listener = spawnPython(FULL_LISTENER);
      try {
        const port = Number((await new EventStream(listener.stdout).next("listening")).port);
        const file = join(paths.dir, "payload");
        writeFileSync(file, "x");
        const words = args.map((word) => (word === "REGION" ? paths.region : word === "FILE" ? file : word));
        const before = synSent(port);
        const command = spawnBun([CLI, ...words, "--connect", `127.0.0.1:${port}`]);
        await eventually(async () => synSent(port) > before, 20_000, `${name} sending its SYN`);
        const interrupted = performance.now();
        command.proc.kill("SIGINT");
        const code = await command.exit();
        const tookMs = Math.round(performance.now() - interrupted);
        const stderr = await command.stderr;
        expect({ code, stderr }).toEqual({
          code: 130,
          stderr: expect.stringContaining("interrupted by SIGINT"),
        });
        // A liveness bound only (the connect gave up after 3 s): the signal, not that, ended it.
        expect(tookMs).toBeLessThan(2500);
      } finally {
        listener.kill();
        await listener.exited;
      }
    },
    60_000,
  );
}
