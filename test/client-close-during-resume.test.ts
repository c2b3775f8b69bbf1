/**
 * close() during a resume ends the resume's tries (mutation round 20, src/guest/client.ts recover): a
 * script that closes its client while the arbiter is away then exits, instead of trying to reconnect until
 * the reconnect timeout (a minute here) with nothing left to resume. Its own process: whether it exits is
 * what is seen.
 */
import { afterAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { REPO, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, EventStream } from "./helpers/processes.ts";

const paths = testPaths("client-close-during-resume");
afterAll(() => paths.cleanup());
/** A liveness bound, generous for a busy 2-core machine, and far short of the child's reconnect timeout. */
const BOUND_MS = 20_000;

test("a client closed while it tries to resume lets its process exit", async () => {
  const arbiter = await ArbiterProcess.start(paths);
  const script = join(paths.dir, "close-during-resume.ts");
  writeFileSync(
    script,
    `import { connect } from ${JSON.stringify(join(REPO, "src/guest/index.ts"))};\n` +
      "const [socket, region] = process.argv.slice(2);\n" +
      "const client = await connect({ socket, region, reconnectTimeoutMs: 60_000 });\n" +
      'console.log(JSON.stringify({ event: "connected" }));\n' +
      "while (client.arbiterLink.connected) await Bun.sleep(10);\n" +
      "await Bun.sleep(100); // its tries under way\n" +
      "await client.close();\n" +
      'console.log(JSON.stringify({ event: "closed", lost: client.lost?.code }));\n',
  );
  const child = Bun.spawn([process.execPath, script, paths.socket, paths.region], {
    stdout: "pipe",
    stderr: "pipe",
  });
  try {
    const events = new EventStream(child.stdout);
    await events.next("connected", BOUND_MS);
    await arbiter.kill9();
    expect(await events.next("closed", BOUND_MS)).toEqual({ event: "closed", lost: "ConnectionLost" });
    const exited = await Promise.race([child.exited, Bun.sleep(BOUND_MS).then(() => "still running")]);
    expect(exited).toBe(0);
  } finally {
    child.kill("SIGKILL");
    await arbiter.stop();
  }
}, 60_000);
