/**
 * --force over a file in an overlay's lower layer (src/transfer/name-moves.ts, setAside). overlayfs with
 * its layers on two file systems (and no index) gives the hard link setAside made, a second name of the
 * file copied up, a "dev:ino" of its own: the keep took it for a file put at FILE meanwhile and refused
 * every such --force ("was not replaced: a file was put there"), leaving FILE.partial and
 * FILE.ivsh-replaced behind. A container's image layer is such a lower layer.
 */
import { afterAll, expect } from "bun:test";
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addressOf } from "../src/ffi/index.ts";
import { Sink } from "../src/transfer/sink.ts";
import { notRoot } from "./helpers/as-nobody.ts";
import { testUnless } from "./helpers/tools.ts";

// Lower layer on the test directory's file system, upper on tmpfs: two file systems.
const directory = mkdtempSync(join(tmpdir(), "keep-overlay-"));
const layers = mkdtempSync("/dev/shm/keep-overlay-");
const [lower, merged] = [join(directory, "lower"), join(directory, "merged")];
let mounted = false;
afterAll(() => {
  // Lazily: a case that failed with a descriptor open there (its sink never closed) must not keep it.
  if (mounted) Bun.spawnSync(["umount", "--lazy", merged]);
  rmSync(directory, { recursive: true, force: true });
  rmSync(layers, { recursive: true, force: true });
});

/** The overlay mounted, with FILE in its lower layer; why it cannot be, if so. */
function overlayUnusable(): string | undefined {
  if (notRoot) return notRoot;
  const [upper, work] = [join(layers, "upper"), join(layers, "work")];
  for (const made of [lower, merged, upper, work]) mkdirSync(made, { recursive: true });
  writeFileSync(join(lower, "image.bin"), "the old image", { mode: 0o640 });
  writeFileSync(join(lower, "undone.bin"), "the old image");
  const layout = `lowerdir=${lower},upperdir=${upper},workdir=${work}`;
  const mount = Bun.spawnSync(["mount", "-t", "overlay", "overlay", "-o", layout, merged]);
  if (mount.exitCode !== 0) return `overlayfs cannot be mounted here: ${mount.stderr.toString().trim()}`;
  mounted = true;
  return undefined;
}
const unusable = overlayUnusable();

testUnless(
  unusable,
  "--force replaces a file of an overlay's lower layer, leaving no other name",
  async () => {
    const target = join(merged, "image.bin");
    const sink = Sink.open(target, { force: true });
    const data = Buffer.from("the new image");
    await sink.write(addressOf(data), data.byteLength);
    sink.keep();
    expect(sink.settle()).toBeUndefined();
    expect(readFileSync(target, "utf8")).toBe("the new image");
    expect(statSync(target).mode & 0o777).toBe(0o640);
    expect(readdirSync(merged)).toEqual(["image.bin", "undone.bin"]);
    expect(existsSync(join(lower, "image.bin"))).toBe(true); // the lower layer is never written
  },
);

testUnless(
  unusable,
  "--force over a file of an overlay's lower layer, undone: the old file back at FILE, the copy FILE.partial",
  async () => {
    const target = join(merged, "undone.bin");
    const sink = Sink.open(target, { force: true });
    const data = Buffer.from("the new image");
    await sink.write(addressOf(data), data.byteLength);
    sink.keep();
    sink.unkeep();
    expect(sink.undone).toEqual({ copy: `${target}.partial`, aside: undefined });
    expect(sink.abandon()).toBe(`${target}.partial`);
    expect(readFileSync(target, "utf8")).toBe("the old image");
    expect(readFileSync(`${target}.partial`, "utf8")).toBe("the new image");
    expect(existsSync(`${target}.ivsh-replaced`)).toBe(false);
  },
);
