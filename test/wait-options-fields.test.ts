/**
 * A lock(), acquire() or wait() bound of the wrong shape from a caller without types: `{ timeout: 200 }`
 * (the field is timeoutMs) was taken as no bound at all, and an AbortSignal passed in place of the options
 * (`lock(controller.signal)`) was read as options holding neither field. Both waited for ever on a lock held
 * elsewhere, the abort ignored. They are refused, naming what to pass, as alloc() names a field it does
 * not take.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, livenessBoundMs, spawnFixture } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("wait-options-fields");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("a wait bound holding a field it does not take, or an AbortSignal in place of { signal }, is refused, not waited on for ever", async () => {
  const holder = spawnFixture(
    "holder",
    clientConfig(paths, { mutex: "held-bounds", segment: "held-bounds-seg" }),
  );
  const client = await connect({ socket: paths.socket, region: paths.region });
  try {
    await holder.events.next("holding");
    const mutex = await client.mutex("held-bounds");
    const condvar = await client.condvar("held-bounds-cv");
    expect(await condvar.acquire()).toBe("acquired");
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 200);
    // biome-ignore lint/suspicious/noExplicitAny: a caller without types passes anything
    const untyped = (options: unknown) => options as any;
    const ended = (waiting: Promise<unknown>) => {
      const bound = Bun.sleep(livenessBoundMs(2000)).then(() => "still waiting");
      return Promise.race([waiting.then(String, (error: Error) => error.message), bound]);
    };
    const [timeout, signal, waited] = await Promise.all([
      ended(mutex.lock(untyped({ timeout: 200 }))),
      ended(mutex.lock(untyped(controller.signal))),
      ended(condvar.wait(untyped({ timeout: 200, signal: controller.signal }))),
    ]);
    expect(timeout).toMatch(
      /lock 'held-bounds' since its options hold 'timeout', which it does not take \(timeoutMs, signal only/,
    );
    expect(signal).toMatch(/lock 'held-bounds' since its argument is an AbortSignal: pass \{ signal \}/);
    expect(waited).toMatch(/wait on 'held-bounds-cv' since its options hold 'timeout'/);
    expect(condvar.owner).toBe(client.clientId); // refused before it let go
    condvar.release();
    await expectRejection(mutex.lock(untyped({ timeoutMs: 100 })), "Timeout"); // the right field still works
  } finally {
    holder.proc.kill("SIGKILL");
    await holder.exit();
    await client.close();
  }
}, 60_000);
