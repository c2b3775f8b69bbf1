/**
 * A receiver's sink (src/transfer/sink.ts) on its own, without a transfer: what `keep` and `unkeep` leave
 * under FILE, and which descriptors --out may name.
 */
import { afterAll, expect, test } from "bun:test";
import {
  existsSync,
  linkSync,
  lstatSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { addressOf } from "../src/ffi/index.ts";
import { Sink } from "../src/transfer/sink.ts";
import { REPO } from "./helpers/paths.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-sink-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("--force, kept, then unkept (the verdict could not be told): FILE holds the file it replaced again", async () => {
  const target = join(dir, "replaced");
  writeFileSync(target, "the old file");
  const sink = Sink.open(target, { force: true });
  const data = new TextEncoder().encode("the new copy");
  await sink.write(addressOf(data), data.byteLength);
  sink.keep();
  expect(readFileSync(target, "utf8")).toBe("the new copy");
  sink.unkeep();
  expect(readFileSync(target, "utf8")).toBe("the old file");
  expect(readFileSync(`${target}.partial`, "utf8")).toBe("the new copy");
});

test("--out /dev/fd/2 with stderr closed at start is refused: the stream would go to the runtime's /dev/null", async () => {
  const sink = JSON.stringify(join(REPO, "src/transfer/sink.ts"));
  const script = `import { Sink } from ${sink};\ntry { Sink.open("/dev/fd/2"); console.log("opened"); } catch (error) { console.log(error.message); }`;
  // As the launcher tells ivsh (IVSH_CLOSED_AT_START), so that stdout stays open to report on.
  const child = Bun.spawn([process.execPath, "-e", script], {
    stdout: "pipe",
    stderr: "pipe",
    env: { ...process.env, IVSH_CLOSED_AT_START: "2" },
  });
  const [said] = await Promise.all([new Response(child.stdout).text(), child.exited]);
  expect(said).toContain(
    "Failed to write /dev/fd/2 since it names descriptor 2, which was closed when ivsh started",
  );
});

// A receiver frozen past its lease after its keep undoes it only while FILE is still its copy, told by
// dev:ino. It closed its copy at keep: replaced at FILE since by a second receiver's (--force), whose
// settle removed it, its inode number was free, and ext4 gives a file made next in that directory the
// same one: a third receiver's copy, kept and reported, passed for the first's, which moved it to
// FILE.partial and put back at FILE the file it had replaced. (In one process here: the first does
// nothing between its keep and its unkeep, as a frozen one does not.)
test("an unkeep after two later receivers replaced FILE leaves the last one's copy, whatever inode it got", async () => {
  const target = join(dir, "reused");
  writeFileSync(target, "the old file");
  const receiver = async (bytes: string) => {
    const sink = Sink.open(target, { force: true });
    const data = new TextEncoder().encode(bytes);
    await sink.write(addressOf(data), data.byteLength);
    return sink;
  };
  const first = await receiver("the first copy");
  first.keep();
  for (const later of ["the second copy", "the third copy"]) {
    const sink = await receiver(later);
    sink.keep();
    sink.settle();
  }
  first.unkeep(); // Before: FILE held 'the old file' again, the third copy moved to FILE.partial.
  expect(readFileSync(target, "utf8")).toBe("the third copy");
  expect(existsSync(`${target}.partial`)).toBe(false);
  first.settle();
});

// Someone who may write the directory made FILE a hard link to FILE.partial before the keep: a rename of
// one name of a file to another does nothing, so FILE.partial stayed (a stale partial the next receive
// refused), and without --force the copy at FILE was refused as 'a file created there'. FILE is the
// verified copy then: kept, FILE.partial gone; with --force, nothing set aside (no other file was there).
for (const force of [true, false])
  test(`FILE hard-linked to FILE.partial before the keep${force ? " (--force)" : ""}: kept, FILE.partial gone`, async () => {
    const target = join(dir, `linked-${force}`);
    if (force) writeFileSync(target, "the old file");
    const sink = Sink.open(target, { force });
    const data = new TextEncoder().encode("the new copy");
    await sink.write(addressOf(data), data.byteLength);
    rmSync(target, { force: true });
    linkSync(`${target}.partial`, target);
    sink.keep(); // Before, without --force: 'Failed to keep ... a file was created there during the transfer'
    expect(readFileSync(target, "utf8")).toBe("the new copy");
    expect(existsSync(`${target}.partial`)).toBe(false); // Before, with --force: still there
    expect(existsSync(`${target}.ivsh-replaced`)).toBe(false);
    // Undone (the verdict not told): the copy back to FILE.partial, and no other file to put back at FILE.
    sink.unkeep();
    expect([existsSync(target), readFileSync(`${target}.partial`, "utf8")]).toEqual([false, "the new copy"]);
    sink.settle();
  });

// A symbolic link to FILE.partial is not the copy, though stat(2) through it finds the copy: --force
// took it for the hard link above, set nothing aside and left the copy's rename to find FILE taken:
// refused, 'a file was put there ... receive again', where a rename over the link (as before 58e4c2c)
// replaced it. The link is what --force replaces now.
test("FILE made a symlink to FILE.partial before the keep (--force): replaced by the copy", async () => {
  const target = join(dir, "symlinked");
  writeFileSync(target, "the old file");
  const sink = Sink.open(target, { force: true });
  const data = new TextEncoder().encode("the new copy");
  await sink.write(addressOf(data), data.byteLength);
  rmSync(target);
  symlinkSync(`${target}.partial`, target);
  sink.keep(); // Before: 'Failed to keep ... a file was put there while the copy was taking its name'
  expect(lstatSync(target).isFile()).toBe(true);
  expect(readFileSync(target, "utf8")).toBe("the new copy");
  expect(existsSync(`${target}.partial`)).toBe(false);
  sink.settle();
  expect(existsSync(`${target}.ivsh-replaced`)).toBe(false);
});

// The file FILE replaced (--force) is kept under its second name until the verdict: removed there before
// an undo (by its owner, or anyone who may write the directory), the undo's swap of it with FILE failed
// ENOENT, and that escaped raw ('renameat2 (exchange) ...: ENOENT'), the copy left at FILE as if kept. It
// is an undo with nothing to put back now: the copy back to FILE.partial, nothing at FILE.
test("the file set aside removed before an unkeep: the copy back to FILE.partial, nothing raw thrown", async () => {
  const target = join(dir, "aside-removed");
  writeFileSync(target, "the old file");
  const sink = Sink.open(target, { force: true });
  const data = new TextEncoder().encode("the new copy");
  await sink.write(addressOf(data), data.byteLength);
  sink.keep();
  rmSync(`${target}.ivsh-replaced`);
  sink.unkeep(); // Before: 'renameat2 (exchange) FILE.ivsh-replaced -> FILE: ENOENT ...'
  expect([existsSync(target), readFileSync(`${target}.partial`, "utf8")]).toEqual([false, "the new copy"]);
  sink.settle();
});
