/**
 * `ivsh host`'s least --lease and --hello-wait (src/commands/_host-args.ts, LEAST_LEASE and
 * LEAST_HELLO_WAIT) are taken themselves: an arbiter given exactly them serves. (cli-host-flags checks
 * that 1 ms less is refused.)
 */
import { afterEach, expect, test } from "bun:test";
import { connect } from "../src/guest/index.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths | undefined;
let arbiter: ArbiterProcess | undefined;

afterEach(async () => {
  await arbiter?.stop();
  arbiter = undefined;
  paths?.cleanup();
  paths = undefined;
});

test("host --lease 1s --hello-wait 250ms serves a client", async () => {
  paths = testPaths("least-flags");
  arbiter = await ArbiterProcess.start(paths, { lease: "1s", extra: ["--hello-wait", "250ms"] });
  const client = await connect({ socket: paths.socket, region: paths.region });
  const segment = await client.alloc(4096);
  expect(segment.bytes.length).toBe(4096);
  await client.close();
});
