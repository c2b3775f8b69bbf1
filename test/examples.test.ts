/** The report's Fig. 1 / Fig. 2 loops (examples/) move 64 MiB between two processes, content verified. */
import { expect, test } from "bun:test";
import { join } from "node:path";
import { REPO } from "./helpers/paths.ts";
import { spawnBun } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("examples");

test("fig1-writer and fig2-reader move 64 MiB bit-exact", async () => {
  const bytes = 64 << 20;
  const input = join(suite.dir, "input");
  const output = join(suite.dir, "output");
  const data = new Uint8Array(bytes);
  for (let offset = 0; offset < bytes; offset += 65536)
    crypto.getRandomValues(data.subarray(offset, offset + 65536));
  await Bun.write(input, data);
  const flags = ["--socket", suite.socket, "--region", suite.region];
  // The reader starts first: it must wait for the writer's area.
  const reader = spawnBun([join(REPO, "examples/fig2-reader.ts"), output, String(bytes), ...flags]);
  await Bun.sleep(200);
  const writer = spawnBun([join(REPO, "examples/fig1-writer.ts"), input, ...flags]);
  const [sent, received] = await Promise.all([
    writer.events.next("sent", 60_000),
    reader.events.next("received", 60_000),
  ]);
  expect(sent.chunks).toBe(received.chunks);
  expect([await writer.exit(), await reader.exit()]).toEqual([0, 0]);
  const copy = new Uint8Array(await Bun.file(output).arrayBuffer());
  expect(copy.length).toBe(bytes);
  expect(Bun.hash.xxHash3(copy)).toBe(Bun.hash.xxHash3(data));
}, 90_000);
