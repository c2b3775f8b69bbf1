/**
 * Found in trial 31: a copy of the region file (`cp REGION COPY`, then `--region COPY`) has the header,
 * geometry, epoch and arbiter instance of the region the arbiter serves, so it was accepted; a sender then
 * wrote its ring into the copy, and sender and receiver each waited for the other for ever ("no receiver
 * showed up", "no sender showed up" with --timeout), `ivsh status` showing both. The arbiter now says in
 * the header which clients it greeted, and a client greeted above that is refused at connect, naming why.
 * (The same refusal covers a guest whose memory backend lacks share=on: its mapping does not see the
 * arbiter's writes either; no VM here to show it.)
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { closeSync, copyFileSync, openSync, readSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { connect } from "../src/guest/connect.ts";
import { Header } from "../src/region/layout.ts";
import { type TestPaths, testPaths } from "./helpers/paths.ts";
import { ArbiterProcess } from "./helpers/processes.ts";
import { guest } from "./helpers/transfer.ts";

let paths: TestPaths;
let arbiter: ArbiterProcess;
let copy: string;
beforeAll(async () => {
  paths = testPaths("region-copy");
  arbiter = await ArbiterProcess.start(paths);
  // A client greeted before the copy is made, as on any region in use.
  const first = await connect({ socket: paths.socket, region: paths.region });
  await first.close();
  copy = join(paths.shmDir, "region-copy");
  copyFileSync(paths.region, copy);
});
afterAll(async () => {
  await arbiter?.stop();
  paths?.cleanup();
});

const COPY_REFUSED =
  /does not see what that arbiter writes \(it greeted this client as \d+, the region says it greeted none above \d+\): a copy of the region file/;

test("`guest send --region COPY` is refused at once, naming the copy, not left waiting for a receiver", async () => {
  const input = join(paths.dir, "input");
  writeFileSync(input, "some bytes\n");
  const sender = guest(paths, ["send", input, "--channel", "copy", "--timeout", "20s"], {
    IVSH_REGION: copy,
  });
  // Before: exit 1 after the 20 s --timeout, "no receiver showed up within 20 s", a receiver on the region
  // itself waiting for it all the while. A liveness bound only, well under that timeout.
  const code = await sender.exit(15_000);
  const stderr = await sender.stderr;
  expect({ code, refused: COPY_REFUSED.test(stderr) }, stderr).toEqual({ code: 1, refused: true });
  expect(stderr).toContain(copy);
});

test("connect() to a copy of the region is refused RegionInvalid; the region itself is still served", async () => {
  const refused = await connect({ socket: paths.socket, region: copy }).then(
    (client) => client.close().then(() => undefined),
    (error: unknown) => error,
  );
  expect(refused).toMatchObject({ code: "RegionInvalid", message: expect.stringMatching(COPY_REFUSED) });
  const served = await connect({ socket: paths.socket, region: paths.region });
  expect(served.clientId).toBeGreaterThan(0);
  await served.close();
});

/** The region file's first scratch word (the header's probe area), read or written through the file. */
function scratchWord(value?: number): number {
  const fd = openSync(paths.region, "r+");
  try {
    const word = Buffer.alloc(4);
    if (value !== undefined) {
      word.writeUInt32LE(value);
      writeSync(fd, word, 0, 4, Header.probeArea);
    }
    readSync(fd, word, 0, 4, Header.probeArea);
    return word.readUInt32LE();
  } finally {
    closeSync(fd);
  }
}

test("connect() writes the header page before its hello, so a mapping that copies pages on write holds its own", async () => {
  // Under QEMU's memory-backend-file without share=on, a guest's BAR page is the file's until the guest
  // first writes it: a header page never written went on showing greetedUpTo, and the check passed.
  expect(scratchWord(0x1badcafe)).toBe(0x1badcafe);
  const client = await connect({ socket: paths.socket, region: paths.region });
  await client.close();
  expect(scratchWord()).toBe(0);
});
