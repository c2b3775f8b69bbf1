/**
 * Refusals a library user met in the app trial (33) that said what was wrong but not what to do: an shm_*
 * call before shm_init(), a name past 255 bytes, a lock handle used after its close(), an unlock() of a
 * lock another client holds, a segment larger than the whole region. Each now ends with the way on.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { expectFailure, expectRejection } from "./helpers/errors.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let client: Client;
let other: Client;

beforeAll(async () => {
  paths = testPaths("library-advice");
  arbiter = await ArbiterProcess.start(paths);
  client = await connect({ socket: paths.socket, region: paths.region, name: "advice" });
  other = await connect({ socket: paths.socket, region: paths.region, name: "advice-other" });
});
afterAll(async () => {
  await Promise.all([client?.close(), other?.close()]);
  await arbiter?.stop();
  paths?.cleanup();
});

test("an shm_* call before shm_init() says to await shm_init() first", async () => {
  // A process of its own: another test file of this run may have called shm_init() in this one.
  const child = Bun.spawn(
    [
      process.execPath,
      "-e",
      `import { shm_alloc } from "${import.meta.dir}/../src/guest/shm.ts";
       await shm_alloc(4096).catch((error) => console.log(error.message));`,
    ],
    { stdout: "pipe", stderr: "inherit" },
  );
  const said = await new Response(child.stdout).text();
  expect(await child.exited).toBe(0);
  expect(said.trim()).toBe(
    "Failed to use the shm_* API since shm_init() has not been called (await shm_init() first)",
  );
});

test("a name past 255 bytes is told to be shorter", async () => {
  const long = "n".repeat(300);
  await expectRejection(
    client.alloc(4096, { name: long }),
    "InvalidArgument",
    /longer than 255 bytes \(choose a shorter name\)$/,
  );
  await expectRejection(
    client.mutex(long),
    "InvalidArgument",
    /longer than 255 bytes \(choose a shorter name\)$/,
  );
});

test("a closed lock handle says to open the lock again", async () => {
  const mutex = await client.mutex("advice-closed");
  await mutex.close();
  expectFailure(() => mutex.tryLock(), "NotHeld", /its handle was closed \(open it again\)$/);
});

test("an unlock() of another client's lock says only its holder may unlock it", async () => {
  const mine = await client.mutex("advice-theirs");
  const theirs = await other.mutex("advice-theirs");
  expect(await mine.lock()).toBe("acquired");
  try {
    expectFailure(
      () => theirs.unlock(),
      "NotHeld",
      new RegExp(`client ${client.clientId} holds it, not this one \\(only its holder may unlock it\\)$`),
    );
  } finally {
    mine.unlock();
  }
});

test("a segment larger than the whole region says to allocate less or give the arbiter a larger region", async () => {
  await expectRejection(
    client.alloc(1 << 30),
    "NoSpace",
    /the whole region has \d+ \(allocate less, or start the arbiter with a larger --size\)$/,
  );
});
