/**
 * `recv --force --out FILE` over a FILE.partial an earlier, failed receive left (its bytes, unverified):
 * found by a trial, it was truncated away at the start, before any sender came, so a receive that then
 * timed out, was interrupted or killed had destroyed the leftover for nothing. It is now held (locked, so
 * no other receiver takes it meanwhile) and replaced only when data arrives.
 */

import { expect, test } from "bun:test";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { eventually } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { directoryFreezer, testUnless } from "./helpers/tools.ts";
import { guest, guestSaying, randomFile, sameBytes } from "./helpers/transfer.ts";

const suite = sharedArbiter("lo32-force-leftover");
const LEFT = "bytes an earlier receive got";

test("a --force receive that gets no data leaves FILE.partial as it was: timed out, or killed -9", async () => {
  const output = join(suite.dir, "no-data.out");
  writeFileSync(`${output}.partial`, LEFT);
  const timedOut = guest(suite.paths, [
    "recv",
    "--force",
    "--channel",
    "none-1",
    "--out",
    output,
    "--timeout",
    "1s",
  ]);
  expect(await timedOut.exit()).toBe(1);
  expect(await timedOut.stderr).toContain("no sender");
  expect(readFileSync(`${output}.partial`, "utf8")).toBe(LEFT);

  const waiting = guestSaying(suite.paths, [
    "recv",
    "--force",
    "--channel",
    "none-2",
    "--out",
    output,
    "--progress",
  ]);
  await eventually(async () => waiting.said.text.includes("waiting"), 20_000, "the receiver waiting");
  expect(readFileSync(`${output}.partial`, "utf8")).toBe(LEFT);
  // Held meanwhile: another receiver does not take it over, --force or not.
  const other = guest(suite.paths, [
    "recv",
    "--force",
    "--channel",
    "none-3",
    "--out",
    output,
    "--timeout",
    "1s",
  ]);
  expect(await other.exit()).toBe(1);
  expect(await other.stderr).toContain(`another receiver is writing ${output}.partial now`);
  waiting.proc.kill("SIGKILL");
  expect(await waiting.proc.exited).toBe(137);
  expect(readFileSync(`${output}.partial`, "utf8")).toBe(LEFT);
  expect(existsSync(output)).toBe(false);
}, 60_000);

test("a --force receive that gets data replaces the leftover: FILE is the stream, no FILE.partial", async () => {
  const output = join(suite.dir, "data.out");
  writeFileSync(`${output}.partial`, LEFT);
  const input = join(suite.dir, "data.in");
  const data = await randomFile(input, 300_000);
  const receiver = guest(suite.paths, ["recv", "-q", "--force", "--channel", "data", "--out", output]);
  const sender = guest(suite.paths, ["send", "-q", input, "--channel", "data"]);
  expect([await receiver.exit(), await receiver.stderr]).toEqual([0, ""]);
  expect(await sender.exit()).toBe(0);
  expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
  expect(existsSync(`${output}.partial`)).toBe(false);

  // An empty stream too: its copy is made at the verdict.
  const empty = join(suite.dir, "empty.out");
  writeFileSync(`${empty}.partial`, LEFT);
  writeFileSync(join(suite.dir, "empty.in"), "");
  const emptyReceiver = guest(suite.paths, ["recv", "-q", "--force", "--channel", "empty", "--out", empty]);
  const emptySender = guest(suite.paths, ["send", "-q", join(suite.dir, "empty.in"), "--channel", "empty"]);
  expect([await emptyReceiver.exit(), await emptySender.exit()]).toEqual([0, 0]);
  expect(readFileSync(empty, "utf8")).toBe("");
  expect(existsSync(`${empty}.partial`)).toBe(false);
}, 60_000);

// Found in review: the leftover moved away while the receiver waited, and another receiver made its own
// FILE.partial meanwhile: at the first bytes this receiver is refused its own (busy), and it claimed the
// other receiver's file as the 0 bytes it had left there, unverified.
test("a --force receive whose leftover was taken meanwhile does not claim the file there as its own", async () => {
  const output = join(suite.dir, "taken.out");
  writeFileSync(`${output}.partial`, LEFT);
  const first = guestSaying(suite.paths, [
    "recv",
    "--force",
    "--channel",
    "taken-1",
    "--out",
    output,
    "--progress",
  ]);
  await eventually(async () => first.said.text.includes("waiting"), 20_000, "the first receiver waiting");
  rmSync(`${output}.partial`);
  const second = guestSaying(suite.paths, ["recv", "--channel", "taken-2", "--out", output, "--progress"]);
  await eventually(async () => second.said.text.includes("waiting"), 20_000, "the second receiver waiting");
  const input = join(suite.dir, "taken.in");
  await randomFile(input, 300_000);
  const sender = guest(suite.paths, ["send", "-q", input, "--channel", "taken-1"]);
  expect(await first.proc.exited).toBe(1);
  await sender.exit();
  // The error is its last line: any warning came before it.
  const refused = `another receiver is writing ${output}.partial now`;
  await eventually(async () => first.said.text.includes(refused), 20_000, "the first receiver refused");
  expect(first.said.text).not.toContain("left in");
  // The second receiver's, still there and still held by it.
  expect(existsSync(`${output}.partial`)).toBe(true);
  second.proc.kill("SIGTERM");
  await second.proc.exited;
}, 60_000);

// Found in review: a leftover that cannot be removed (its directory read-only, or immutable for root; the
// file itself chattr +i; another user's in a sticky directory) was held, and its refusal met only at the
// first bytes of a sender, whose send it then cost; unlinked at the start, it is refused before any sender.
const frozen = directoryFreezer();
testUnless(
  frozen ? undefined : "root here has no chattr +i on /tmp's file system to make a directory refuse changes",
  "a --force receive over a leftover it may not remove is refused at its start, not at the first bytes",
  async () => {
    const dir = join(suite.dir, "frozen");
    mkdirSync(dir);
    const output = join(dir, "frozen.out");
    writeFileSync(`${output}.partial`, LEFT);
    frozen!.freeze(dir);
    try {
      const receiver = guest(suite.paths, [
        "recv",
        "--force",
        "--channel",
        "frozen",
        "--out",
        output,
        "--timeout",
        "15s",
      ]);
      expect(await receiver.exit()).toBe(1);
      const said = await receiver.stderr;
      expect(said).not.toContain("no sender");
      expect(said).toContain(`${output}.partial, which an earlier receive left, cannot be removed (`);
    } finally {
      frozen!.thaw(dir);
    }
    expect(readFileSync(`${output}.partial`, "utf8")).toBe(LEFT);
  },
  60_000,
);
