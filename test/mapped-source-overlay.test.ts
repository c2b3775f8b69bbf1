/**
 * A sparse file on overlayfs over tmpfs (a container's /dev/shm-backed overlay) sent by `ivsh guest send`
 * (src/transfer/mapped-file.ts): statfs says overlayfs, but a mapping of the file is a mapping of its
 * tmpfs upper file, whose holes a mapping's read fills with pages. It must be read(2), as in tmpfs itself.
 */
import { afterAll, expect } from "bun:test";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, statSync, truncateSync } from "node:fs";
import { join } from "node:path";
import { notRoot } from "./helpers/as-nobody.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { testUnless } from "./helpers/tools.ts";
import { guest, outPath, randomFile, sameBytes } from "./helpers/transfer.ts";

const MIB = 1 << 20;
const OVERLAYFS_MAGIC = 0x794c7630;
const suite = sharedArbiter("mapped-overlay", { size: "64MiB" });

// Both layers in tmpfs; the overlay mounted in a directory of its own.
const layers = mkdtempSync("/dev/shm/ivsh-mapped-overlay-");
const merged = mkdtempSync("/tmp/ivsh-mapped-overlay-");
let mounted = false;
afterAll(() => {
  // Lazily: a case that failed with the file still open (a sender left running) must not keep it.
  if (mounted) Bun.spawnSync(["umount", "--lazy", merged]);
  rmSync(merged, { recursive: true, force: true });
  rmSync(layers, { recursive: true, force: true });
});

/** The overlay mounted at `merged`; why it cannot be, if so. */
function overlayUnusable(): string | undefined {
  if (notRoot) return notRoot;
  const [lower, upper, work] = [join(layers, "lower"), join(layers, "upper"), join(layers, "work")];
  for (const made of [lower, upper, work]) mkdirSync(made);
  const layout = `lowerdir=${lower},upperdir=${upper},workdir=${work}`;
  const mount = Bun.spawnSync(["mount", "-t", "overlay", "overlay", "-o", layout, merged]);
  if (mount.exitCode !== 0) return `overlayfs cannot be mounted here: ${mount.stderr.toString().trim()}`;
  mounted = true;
  return undefined;
}

testUnless(
  overlayUnusable(),
  "a sparse file on overlayfs over tmpfs is sent whole and keeps its holes (a mapping's reads would fill them)",
  async () => {
    const name = "mapped-overlay-sparse";
    const input = join(merged, `${name}.in`);
    const output = outPath(suite.paths, `${name}.out`);
    expect(statfsSync(merged).type).toBe(OVERLAYFS_MAGIC);
    const data = await randomFile(input, MIB);
    truncateSync(input, 64 * MIB); // 63 MiB of hole after the data
    const used = statSync(input).blocks;
    const receiver = guest(suite.paths, ["recv", "--channel", name, "--out", output]);
    const sender = guest(suite.paths, ["send", input, "--channel", name]);
    expect([await sender.exit(), await receiver.exit()]).toEqual([0, 0]);
    const got = new Uint8Array(readFileSync(output));
    expect([got.byteLength, sameBytes(got.subarray(0, MIB), data)]).toEqual([64 * MIB, true]);
    expect(sameBytes(got.subarray(MIB), new Uint8Array(63 * MIB))).toBe(true);
    // Mapped, every page of the hole was given memory in the upper layer: 2048 blocks before, 131072 after.
    expect(statSync(input).blocks).toBe(used);
  },
  60_000,
);
