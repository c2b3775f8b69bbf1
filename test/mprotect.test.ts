/** Ungranted memory is PROT_NONE in every client; a read grant is read-only. Each case is its own process. */
import { afterAll, beforeAll, beforeEach, describe, expect, test } from "bun:test";
import { type Client, connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess, clientConfig, spawnFixture } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let owner: Client;

beforeAll(async () => {
  paths = testPaths("mprotect");
  arbiter = await ArbiterProcess.start(paths);
  owner = await connect({ socket: paths.socket, region: paths.region, name: "owner" });
  const segment = await owner.alloc(65536, { name: "readable" });
  segment.bytes[0] = 17;
});
beforeEach(() => arbiter.revive());
afterAll(async () => {
  await owner?.close();
  await arbiter?.stop();
  paths?.cleanup();
});

describe("mprotect", () => {
  test("a child reading a block it holds no grant for dies of SIGSEGV", async () => {
    const child = spawnFixture("toucher", clientConfig(paths, { action: "ungranted", block: 0 }));
    await child.events.next("touching");
    await child.exit();
    expect(child.proc.signalCode).toBe("SIGSEGV");
    expect(child.events.lines.some((line) => line.includes('"read"'))).toBe(false);
  });

  test("a child writing into a segment it opened read-only dies of SIGSEGV (after reading it fine)", async () => {
    const child = spawnFixture(
      "toucher",
      clientConfig(paths, { action: "write-read-grant", segment: "readable" }),
    );
    expect((await child.events.next("touching")).first).toBe(17);
    await child.exit();
    expect(child.proc.signalCode).toBe("SIGSEGV");
    expect(child.events.lines.some((line) => line.includes('"wrote"'))).toBe(false);
  });

  test("after a grant, reading and writing work", async () => {
    const child = spawnFixture("toucher", clientConfig(paths, { action: "granted" }));
    const done = await child.events.next("done");
    expect(done.sum).toBe(done.expected);
    expect(await child.exit()).toBe(0);
  });

  test("the dead children's grants came back", async () => {
    await Bun.sleep(100);
    const status = await owner.status();
    expect(status.clients.map((client) => client.name)).toEqual(["owner"]);
    expect(status.blocks.used).toBe(1);
  });
});
