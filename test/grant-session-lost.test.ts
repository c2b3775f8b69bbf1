/**
 * A grant whose reply arrives, and whose session is then lost before it is mapped in (src/guest/client.ts
 * adoptGrant): its blocks must stay withdrawn. The arbiter takes back what a lost session held and may
 * grant those blocks to another client at once; mapped in here, they were this process's to write over.
 * In-process, with a real arbiter: the transport is marked lost (as a reply followed by a frame ending the
 * session in the same read does) between the alloc's reply and its mapping, and the region's expose()
 * is watched.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { failure } from "../src/errors.ts";
import { connect } from "../src/guest/index.ts";
import type { Transport } from "../src/guest/transport.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;

beforeAll(async () => {
  paths = testPaths("mut13-grant-lost");
  arbiter = await ArbiterProcess.start(paths);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

test("a grant answered just before its session is lost is not mapped in; its segment says the session is gone", async () => {
  const client = await connect({ socket: paths.socket, region: paths.region, name: "grant-lost" });
  try {
    const transport: Transport = client.transport;
    const request = transport.request.bind(transport) as (name: string, fields: unknown) => Promise<unknown>;
    const lost = failure("SessionUnknown", "resume the session", "the arbiter no longer knows it (test)");
    (transport as { request: unknown }).request = async (name: string, fields: unknown) => {
      const reply = await request(name, fields);
      if (name === "alloc") transport.fail(lost);
      return reply;
    };
    const exposed: unknown[] = [];
    const expose = client.region.expose.bind(client.region);
    client.region.expose = (...args: Parameters<typeof expose>) => {
      exposed.push(args);
      return expose(...args);
    };
    const segment = await client.alloc({ blocks: 1 });
    expect(exposed).toEqual([]);
    expect(() => segment.bytes).toThrow(/no longer knows it \(test\)/);
    // The control: a client whose session goes on has its grant mapped in.
    const other = await connect({ socket: paths.socket, region: paths.region, name: "grant-kept" });
    try {
      const kept = await other.alloc({ blocks: 1 });
      kept.bytes[0] = 1;
      expect(kept.bytes[0]).toBe(1);
    } finally {
      await other.close();
    }
  } finally {
    await client.close().catch(() => undefined);
  }
});
