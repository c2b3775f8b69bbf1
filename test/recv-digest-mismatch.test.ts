/**
 * A receive whose digest does not match the sender's (another process wrote into the ring, as any guest
 * with the device can): what arrived is known not to be what was sent, so FILE.partial, as large as the
 * whole stream and easily taken for it, is removed instead of left "unverified"; a FILE it was to replace
 * (--force) stays as it was. The stray writer is this test, changing a byte of a published chunk in the
 * region file before the receiver joins.
 */
import { expect, test } from "bun:test";
import { closeSync, existsSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { join } from "node:path";
import { eventually } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { guest } from "./helpers/transfer.ts";

const suite = sharedArbiter("recv-digest-mismatch", { size: "16MiB" });

/** Where `marker` is in the region file, once a sender has put it in its ring; -1 until then. */
function findInRegion(marker: Uint8Array): number {
  return Buffer.from(readFileSync(suite.region)).indexOf(marker);
}

/**
 * A sender on `channel` whose published record has one byte changed (by this test, in the region file),
 * and a receiver with `recvArgs` started after the change; resolves with the receiver's exit code and stderr.
 */
async function corrupted(channel: string, recvArgs: string[]): Promise<[number, string]> {
  const data = crypto.getRandomValues(new Uint8Array(64 << 10));
  // The sender puts the record in its ring and waits for a receiver: no receiver yet.
  const sender = guest(suite.paths, ["send", "-", "--channel", channel, "--chunk-size", "64KiB"]);
  sender.proc.stdin.write(data);
  await sender.proc.stdin.flush();
  // Its last bytes: once they are in the ring, the copy has passed the byte changed below.
  const marker = data.subarray(data.length - 64);
  await eventually(async () => findInRegion(marker) >= 0, 20_000, "the sender publishing its record");
  const region = openSync(suite.region, "r+");
  try {
    const at = findInRegion(marker) - (data.length - 64) + 1000;
    writeSync(region, new Uint8Array([data[1000]! ^ 0xff]), 0, 1, at);
  } finally {
    closeSync(region);
  }
  const receiver = guest(suite.paths, ["recv", "--channel", channel, ...recvArgs]);
  await sender.proc.stdin.end();
  expect(await sender.exit()).toBe(1);
  const said = await receiver.stderr;
  expect(said).toMatch(/the sender sent 65536 bytes with digest \S+ but 65536 bytes with digest \S+ arrived/);
  return [await receiver.exit(), said];
}

test("a digest mismatch removes FILE.partial and leaves the FILE it was to replace as it was", async () => {
  const output = join(suite.dir, "mismatch.out");
  writeFileSync(output, "the old copy\n");
  const [code, said] = await corrupted("mismatch", ["--out", output, "--force"]);
  expect(code).toBe(1);
  // Before: "the 65536 bytes that arrived are left in FILE.partial, unverified", all of them, known wrong.
  expect(said).toContain(`do not match what was sent: ${output}.partial is removed`);
  expect(existsSync(`${output}.partial`)).toBe(false);
  expect(readFileSync(output, "utf8")).toBe("the old copy\n");
});

test("a digest mismatch into stdout: the bytes written there are named wrong, nothing is said removed", async () => {
  const [code, said] = await corrupted("mismatch-stdout", ["--out", "-"]);
  expect(code).toBe(1);
  // Before: "the 65536 bytes that arrived do not match what was sent: stdout is removed".
  expect(said).not.toContain("is removed");
  expect(said).toContain("the 65536 bytes written to stdout do not match what was sent: discard them");
});
