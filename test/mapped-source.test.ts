/**
 * A regular file sent from a mapping of it (src/transfer/mapped-file.ts): its whole digest pieces are
 * copied from 64 MiB windows of the file, its last partial piece read(2). Round trips around the limits
 * (checked against the digest's definition), the system calls that show which path ran, a file the
 * kernel will not map (read instead), a file truncated under the mapping (the SIGBUS survived, the send
 * failed with SourceChanged), and the copy's recovery disarmed once it returns.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readFileSync, statfsSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { REPO } from "./helpers/paths.ts";
import { EXIT_BOUND_MS, eventually, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { straceUnusable, testUnless, toolMissing } from "./helpers/tools.ts";
import { guest, guestUnderStrace, outPath, randomFile, roundTrip, sameBytes } from "./helpers/transfer.ts";

const MIB = 1 << 20;
const WINDOW = 64 * MIB;
const PIECE = 64 * 1024;
const suite = sharedArbiter("mapped-source", { size: "64MiB" });
const noStrace = straceUnusable();

describe("bit-exact round trips around the mapping's limits", () => {
  for (const [label, bytes, chunk] of [
    ["1 MiB - 1: below the floor, read(2) only", MIB - 1, undefined],
    ["1 MiB: one window, no partial piece", MIB, undefined],
    ["1 MiB + 5: the ring fitted to the file, its last 5 bytes read(2)", MIB + 5, undefined],
    ["1 MiB + 241: the last piece mapped too (more than 240 bytes)", MIB + 241, undefined],
    ["a window, a piece and a byte: two windows and a read(2) tail", WINDOW + PIECE + 1, undefined],
    ["100 KiB chunks (pieces of 64 + 36 KiB), windows of whole chunks", 70 * MIB + 300, 100 * 1024],
    ["100 KiB chunks, a last piece of 100 bytes read(2)", 3 * MIB + 100, 100 * 1024],
  ] as const)
    test(label, () => roundTrip(suite.paths, `mapped-${bytes}-${chunk}`, bytes, { chunk }), 60_000);
});

test("a sparse file in tmpfs is sent whole and keeps its holes (a mapping's reads would fill them)", async () => {
  const name = "mapped-sparse";
  const input = join(suite.shmDir, `${name}.in`);
  const output = outPath(suite.paths, `${name}.out`);
  expect(statfsSync(suite.shmDir).type).toBe(0x01021994); // tmpfs, as /dev/shm is
  const data = await randomFile(input, MIB);
  truncateSync(input, 64 * MIB); // 63 MiB of hole after the data
  const used = statSync(input).blocks;
  const receiver = guest(suite.paths, ["recv", "--channel", name, "--out", output]);
  const sender = guest(suite.paths, ["send", input, "--channel", name]);
  expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
  const got = new Uint8Array(readFileSync(output));
  expect([got.byteLength, sameBytes(got.subarray(0, MIB), data)]).toEqual([64 * MIB, true]);
  expect(sameBytes(got.subarray(MIB), new Uint8Array(63 * MIB))).toBe(true);
  // Mapped, every page of the hole was given memory: 1 MiB used before the send, 64 MiB after.
  expect(statSync(input).blocks).toBe(used);
}, 60_000);

// A range fallocated and not yet written is cleared page by page as a mapping reads it: a fallocated 2 GiB
// file in /dev/shm took 1.59 s mapped against 0.50 s read(2). tmpfs reports such a range to SEEK_HOLE.
testUnless(
  noStrace ?? toolMissing("fallocate"),
  "a file fallocated in tmpfs and not yet written is read(2), not mapped, and arrives whole",
  async () => {
    const name = "mapped-fallocated";
    const input = join(suite.shmDir, `${name}.in`);
    const output = outPath(suite.paths, `${name}.out`);
    const log = join(suite.dir, `${name}.strace`);
    const made = Bun.spawnSync(["fallocate", "-l", String(8 * MIB), input], { stderr: "pipe" });
    expect(made.stderr.toString()).toBe("");
    expect(statSync(input).blocks * 512).toBeGreaterThanOrEqual(8 * MIB); // not sparse: allocated
    const receiver = guest(suite.paths, ["recv", "--channel", name, "--out", output]);
    const { sender, stderr } = sendUnderStrace(name, input, log, ["-e", "trace=mmap,read"]);
    expect([await exitOrKill(sender, EXIT_BOUND_MS), await receiver.exit()], await stderr).toEqual([0, 0]);
    expect(sameBytes(new Uint8Array(readFileSync(output)), new Uint8Array(8 * MIB))).toBe(true);
    const traced = readFileSync(log, "utf8");
    expect(traced).not.toMatch(/mmap\(NULL, \d+, PROT_READ, MAP_SHARED/);
    const read = [...traced.matchAll(/read\(\d+, .*, \d+\)\s+=\s+(\d+)/g)].reduce(
      (sum, [, got]) => sum + Number(got),
      0,
    );
    expect(read).toBe(8 * MIB);
  },
);

/** `ivsh guest send INPUT` on channel `name` under strace, its system calls on INPUT only, logged to `log`. */
function sendUnderStrace(name: string, input: string, log: string, straceArgs: string[]) {
  const { proc, stderr } = guestUnderStrace(
    suite.paths,
    log,
    ["-P", input, ...straceArgs],
    ["send", input, "--channel", name],
  );
  return { sender: proc, stderr };
}

/** `ivsh guest send INPUT` under strace (system calls on INPUT only), against a receiver into OUTPUT. */
async function tracedSend(name: string, bytes: number, straceArgs: string[]) {
  const input = join(suite.dir, `${name}.in`);
  const output = outPath(suite.paths, `${name}.out`);
  const log = join(suite.dir, `${name}.strace`);
  const data = await randomFile(input, bytes);
  const receiver = guest(suite.paths, ["recv", "--channel", name, "--out", output]);
  const { sender, stderr } = sendUnderStrace(name, input, log, straceArgs);
  const codes = [await exitOrKill(sender, EXIT_BOUND_MS), await receiver.exit()];
  expect(codes, await stderr).toEqual([0, 0]);
  expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
  return readFileSync(log, "utf8");
}

testUnless(
  noStrace,
  "the file comes from mmap windows of whole chunks, a last piece of 240 bytes or less from read(2)",
  async () => {
    const log = await tracedSend("mapped-calls", WINDOW + PIECE + 1, ["-e", "trace=mmap,read,lseek"]);
    const maps = [...log.matchAll(/mmap\(NULL, (\d+), PROT_READ, MAP_SHARED, \d+, (0x[0-9a-f]+|0)\)/g)];
    expect(maps.map(([, length, offset]) => [Number(length), Number(offset)])).toEqual([
      [WINDOW, 0],
      [PIECE, WINDOW],
    ]);
    // After the windows, read(2) from where they stopped: the one byte left (no more: the size is known).
    const reads = [...log.matchAll(/read\(\d+, .*, \d+\)\s+=\s+(\d+)/g)].map(([, got]) => Number(got));
    expect(reads).toEqual([1]);
    expect(log).toMatch(new RegExp(`lseek\\(\\d+, ${WINDOW + PIECE}, SEEK_SET\\)`));
  },
);

testUnless(
  noStrace,
  "a file the kernel will not map (mmap refused) is read(2) instead, bit-exact",
  async () => {
    const inject = ["-e", "trace=mmap,read", "-e", "inject=mmap:error=ENODEV"];
    const log = await tracedSend("mapped-refused", 3 * MIB + 5, inject);
    expect(log).toMatch(/mmap\(NULL, \d+, PROT_READ, MAP_SHARED, .*ENODEV.*INJECTED/);
    const read = [...log.matchAll(/read\(\d+, .*, \d+\)\s+=\s+(\d+)/g)].reduce(
      (sum, [, got]) => sum + Number(got),
      0,
    );
    expect(read).toBe(3 * MIB + 5);
  },
);

testUnless(
  noStrace,
  "a file truncated under the sender's mapping: the SIGBUS is survived and the send fails with SourceChanged",
  async () => {
    const name = "mapped-truncated";
    const input = join(suite.dir, `${name}.in`);
    const output = outPath(suite.paths, `${name}.out`);
    const log = join(suite.dir, `${name}.strace`);
    await randomFile(input, 32 * MIB);
    // It maps the first window, fills the ring (8 MiB) and waits for a receiver: the file shrinks meanwhile.
    const { sender, stderr } = sendUnderStrace(name, input, log, ["-e", "trace=mmap", "-e", "signal=SIGBUS"]);
    const mapped = () => existsSync(log) && /mmap\(NULL, 33554432, PROT_READ/.test(readFileSync(log, "utf8"));
    await eventually(async () => mapped(), EXIT_BOUND_MS, "the sender to map its file");
    truncateSync(input, 16 * MIB);
    const receiver = guest(suite.paths, ["recv", "--channel", name, "--out", output]);
    expect(await exitOrKill(sender, EXIT_BOUND_MS)).toBe(1);
    expect(await stderr).toContain(
      `Failed to send ${input} since it ended after 16777216 of its 33554432 bytes while it was being sent`,
    );
    expect(readFileSync(log, "utf8")).toMatch(/--- SIGBUS \{si_signo=SIGBUS, si_code=BUS_ADRERR/);
    expect(await receiver.exit()).not.toBe(0);
    expect(existsSync(output)).toBe(false);
  },
);

test("the copy's recovery ends with it: a SIGBUS elsewhere in the same mapping still ends the process", async () => {
  const [lost, copied] = ["disarmed-lost.bin", "disarmed-copied.bin"].map((name) => join(suite.dir, name));
  const script = [
    'import { openSync, truncateSync, writeFileSync } from "node:fs";',
    `import { mapShared, PROT_READ, viewOf } from ${JSON.stringify(join(REPO, "src/ffi/index.ts"))};`,
    `import { StreamDigest } from ${JSON.stringify(join(REPO, "src/transfer/digest.ts"))};`,
    "const mapped = (file) => {",
    "  writeFileSync(file, new Uint8Array(4 << 20).fill(7));",
    "  return new Uint8Array(viewOf(mapShared(openSync(file, 'r'), 4 << 20, PROT_READ, file), 4 << 20));",
    "};",
    `const [lost, copied] = [mapped(${JSON.stringify(lost)}), mapped(${JSON.stringify(copied)})];`,
    `truncateSync(${JSON.stringify(lost)}, 1 << 20);`,
    "const digest = new StreamDigest();",
    "const before = digest.value;",
    "const failed = !digest.copyFromFile(new Uint8Array(4 << 20), lost);",
    "const unchanged = digest.bytes === 0 && digest.value === before;",
    "const whole = digest.copyFromFile(new Uint8Array(4 << 20), copied);",
    "console.log(JSON.stringify({ usable: digest.copiesFromFiles, failed, unchanged, whole }));",
    // A copy that returned must leave nothing armed: the jump would go to its frame, long gone (SIGSEGV).
    `truncateSync(${JSON.stringify(copied)}, 1 << 20);`,
    "console.log(copied[2 << 20]);",
  ].join("\n");
  const child = tracked(Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "pipe" }));
  const said = new Response(child.stdout).text();
  // 128 + SIGBUS: the read outside the copy was not recovered from, as before this path existed.
  expect(await exitOrKill(child, EXIT_BOUND_MS)).toBe(135);
  expect(JSON.parse((await said).split("\n")[0]!)).toEqual({
    usable: true,
    failed: true,
    unchanged: true,
    whole: true,
  });
});
