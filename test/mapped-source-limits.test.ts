/**
 * src/transfer/mapped-file.ts's choices at their edges, as the system calls show them: a 1 MiB file (the
 * floor) that tmpfs holds whole is mapped, not read(2); a last digest piece of exactly 240 bytes goes to
 * read(2) (the native copy cannot take it) and the file arrives bit-exact; every window mapped is
 * unmapped once sent (a 2 GiB file would otherwise keep 2 GiB of mappings and page tables to its end); a
 * second window the kernel refuses leaves the rest to read(2) from where the first ended; a sparse file
 * whose file system will not say where its holes are is read(2), as one that says; a copy from a mapping
 * makes no system call (4 KiB chunks); a file that cannot seek at all is read(2) too.
 */
import { expect, test } from "bun:test";
import { readFileSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";
import { guest, guestUnderStrace, outPath, randomFile, roundTrip, sameBytes } from "./helpers/transfer.ts";

const MIB = 1 << 20;
const WINDOW = 64 * MIB;
const PIECE = 64 * 1024;
const suite = sharedArbiter("mapped-limits", { size: "64MiB" });
const noStrace = straceUnusable();

test(
  "a last piece of exactly 240 bytes is read(2), not mapped: bit-exact",
  () => roundTrip(suite.paths, "limits-240", MIB + 240, {}),
  60_000,
);

/**
 * `ivsh guest send INPUT` (made by `prepare`) under strace with `straceArgs(INPUT)`, against a receiver
 * into a file that must come out equal to INPUT as it was sent; the strace log.
 */
async function tracedSend(
  name: string,
  inputDir: string,
  prepare: (input: string) => Promise<unknown>,
  straceArgs: (input: string) => string[],
  sendArgs: string[] = [],
) {
  const input = join(inputDir, `${name}.in`);
  const output = outPath(suite.paths, `${name}.out`);
  const log = join(suite.dir, `${name}.strace`);
  await prepare(input);
  const data = new Uint8Array(readFileSync(input));
  const receiver = guest(suite.paths, ["recv", "--channel", name, "--out", output]);
  const sent = ["send", input, "--channel", name, ...sendArgs];
  const { proc: sender, stderr } = guestUnderStrace(suite.paths, log, straceArgs(input), sent);
  const codes = [await exitOrKill(sender, EXIT_BOUND_MS), await receiver.exit()];
  expect(codes, await stderr).toEqual([0, 0]);
  expect(sameBytes(new Uint8Array(readFileSync(output)), data)).toBe(true);
  return readFileSync(log, "utf8");
}

/** The read-only shared mappings of `length` bytes in the log: their addresses, in order. */
function windows(log: string, length: number): string[] {
  const call = `mmap\\(NULL, ${length}, PROT_READ, MAP_SHARED, \\d+, \\w+\\)\\s+=\\s+(0x[0-9a-f]+)`;
  return [...log.matchAll(new RegExp(call, "g"))].map(([, address]) => address!);
}

const mapsAndUnmaps = () => ["-e", "trace=mmap,munmap"];

testUnless(noStrace, "a 1 MiB file held whole in tmpfs (/dev/shm) is mapped, not read(2)", async () => {
  const log = await tracedSend("limits-shm", suite.shmDir, (input) => randomFile(input, MIB), mapsAndUnmaps);
  expect(windows(log, MIB)).toHaveLength(1);
});

testUnless(noStrace, "every window mapped is unmapped once its bytes are sent", async () => {
  const prepare = (input: string) => randomFile(input, WINDOW + PIECE);
  const log = await tracedSend("limits-unmapped", suite.dir, prepare, mapsAndUnmaps);
  const mapped = [...windows(log, WINDOW), ...windows(log, PIECE)];
  expect(mapped).toHaveLength(2);
  const unmaps = [...log.matchAll(/munmap\((0x[0-9a-f]+), (\d+)\)\s+=\s+0/g)];
  expect(unmaps.map(([, at, length]) => `${at}:${length}`)).toEqual(
    expect.arrayContaining([`${mapped[0]}:${WINDOW}`, `${mapped[1]}:${PIECE}`]),
  );
});

testUnless(
  noStrace,
  "the second window refused (mmap fails): read(2) goes on after the first, bit-exact",
  async () => {
    const prepare = (input: string) => randomFile(input, WINDOW + PIECE + 1);
    // -P: the calls on the file only, so the second is its second window's mmap.
    const refuse = (input: string) => [
      "-P",
      input,
      "-e",
      "trace=mmap,read",
      "-e",
      "inject=mmap:error=ENODEV:when=2",
    ];
    const log = await tracedSend("limits-second-refused", suite.dir, prepare, refuse);
    expect(windows(log, WINDOW)).toHaveLength(1);
    expect(log).toMatch(/mmap\(NULL, \d+, PROT_READ, MAP_SHARED, .*ENODEV.*INJECTED/);
    const read = [...log.matchAll(/read\(\d+, .*, \d+\)\s+=\s+(\d+)/g)].reduce(
      (sum, [, got]) => sum + Number(got),
      0,
    );
    expect(read).toBe(PIECE + 1);
  },
);

testUnless(
  noStrace,
  "a sparse file whose file system will not say where its holes are (SEEK_HOLE fails) is read(2), its holes kept",
  async () => {
    const prepare = async (input: string) => {
      await randomFile(input, MIB);
      truncateSync(input, 8 * MIB); // 7 MiB of hole, in tmpfs
    };
    const refuse = (input: string) => [
      "-P",
      input,
      "-e",
      "trace=mmap,lseek",
      "-e",
      "inject=lseek:error=EINVAL:when=1",
    ];
    const input = join(suite.shmDir, "limits-seek-hole.in");
    const log = await tracedSend("limits-seek-hole", suite.shmDir, prepare, refuse);
    expect(log).toMatch(/lseek\(\d+, 0, SEEK_HOLE\).*EINVAL.*INJECTED/);
    expect(windows(log, 8 * MIB)).toEqual([]);
    expect(statSync(input).blocks * 512).toBe(MIB);
  },
);

testUnless(
  noStrace,
  "a copy from a mapping makes no system call: 4 KiB chunks of an 8 MiB file, not one rt_sigprocmask each",
  async () => {
    // The signal mask is mended only when a fault jumps out of a copy (src/ffi/native/fault.c); saved by
    // every copy's sigsetjmp, it was 2048 calls here (one per chunk). Bun's threads make a few of their own.
    const prepare = (input: string) => randomFile(input, 8 * MIB);
    const masks = () => ["-e", "trace=rt_sigprocmask"];
    const log = await tracedSend("limits-no-mask", suite.dir, prepare, masks, ["--chunk-size", "4096"]);
    expect(log.match(/rt_sigprocmask\(/g)?.length ?? 0).toBeLessThan(2048 / 4);
  },
);

testUnless(
  noStrace,
  "a file that cannot seek at all (every lseek fails, ESPIPE) is read(2), bit-exact: no seek back after SEEK_HOLE",
  async () => {
    // The SEEK_HOLE that failed moved nothing: the seek back to 0 after it failed too, and ended the send
    // ("lseek INPUT: ESPIPE (Illegal seek)", exit 1) of a file that read(2) sends whole.
    const prepare = (input: string) => randomFile(input, 2 * MIB);
    const refuse = (input: string) => [
      "-P",
      input,
      "-e",
      "trace=mmap,lseek",
      "-e",
      "inject=lseek:error=ESPIPE",
    ];
    const log = await tracedSend("limits-no-seek", suite.dir, prepare, refuse);
    expect(log).toMatch(/lseek\(\d+, 0, SEEK_HOLE\).*ESPIPE.*INJECTED/);
    expect(log).not.toMatch(/lseek\(\d+, 0, SEEK_SET\)/);
    expect(windows(log, 2 * MIB)).toEqual([]);
  },
  60_000,
);
