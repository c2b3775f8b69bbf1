/**
 * A quota that is not a whole number of blocks is rounded up to one: --client-quota 96KiB with 64 KiB
 * blocks lets a client hold 2 blocks (128 KiB), not 1, and no third.
 */
import { expect, test } from "bun:test";
import { rawClient } from "./helpers/raw.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("quota-rounding", {
  extra: ["--block-size", "64KiB", "--client-quota", "96KiB"],
});

test("--client-quota 96KiB at 64 KiB blocks: 2 blocks are granted, a third is not", async () => {
  const client = await rawClient(suite.socket);
  try {
    await client.hello("rounded");
    client.send("alloc", 2, { bytes: 0, blocks: 2, mode: 2, name: "" });
    expect((await client.answer(2)).kind).toBe(1); // a reply
    client.send("alloc", 3, { bytes: 0, blocks: 1, mode: 2, name: "" });
    expect((await client.answer(3)).kind).toBe(2); // QuotaExceeded
  } finally {
    client.socket.end();
  }
});
