/**
 * The arbiter's memory over a long run: clients that connect and leave, again and again, must leave
 * nothing behind once they are gone (an operator trial: 28 000 connect/close cycles grew `ivsh host` from
 * 47 to 254 MiB, each closed connection kept by its hello timer for 30 s).
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { type Spawned, spawnFixture } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: Spawned;

beforeAll(async () => {
  paths = testPaths("arbiter-memory");
  arbiter = spawnFixture("probed-arbiter", {
    region: paths.region,
    socket: paths.socket,
    state: paths.state,
  });
  await arbiter.events.next("serving");
});
afterAll(async () => {
  arbiter?.proc.kill("SIGTERM");
  await arbiter?.exit();
  paths?.cleanup();
});

async function socketsHeld(): Promise<number> {
  arbiter.proc.stdin.write("census\n");
  arbiter.proc.stdin.flush();
  return Number((await arbiter.events.next("census")).sockets);
}

test("connections that closed are let go at once, with or without a hello: not kept for the hello wait", async () => {
  const before = await socketsHeld();
  const cycles = 200;
  for (let index = 0; index < cycles; index++) {
    const client = await connect({ socket: paths.socket, region: paths.region, name: `cycle-${index}` });
    await client.close();
    // One that never says hello: its hello timer was the one holding it.
    const raw = await Bun.connect({ unix: paths.socket, socket: { data() {} } });
    raw.end();
  }
  // The hello wait is 30 s: a census taken well within it finds what the timers alone would keep.
  await Bun.sleep(200); // the last closes reach the arbiter
  const after = await socketsHeld();
  expect(after - before).toBeLessThan(cycles / 10);
});
