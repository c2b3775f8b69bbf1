/**
 * recv --out FILE --force's keep, each of its steps failed in turn (strace injecting the error): what FILE
 * and FILE.partial hold afterwards, and what the receiver says, must agree. The keep links FILE aside
 * (FILE.ivsh-replaced), swaps FILE.partial and FILE (RENAME_EXCHANGE), then removes the name FILE.partial,
 * the old file's now; the verdict's settle removes FILE.ivsh-replaced.
 */
import { expect } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { EXIT_BOUND_MS, exitOrKill } from "./helpers/processes.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";
import { randomSender, stoppedAfter } from "./helpers/stopped-recv.ts";
import { straceUnusable, testUnless } from "./helpers/tools.ts";
import { sameBytes } from "./helpers/transfer.ts";

const suite = sharedArbiter("lo7-keep-steps");

/**
 * A forced receive over FILE ("the old file") with `injects` on the calls on `on`; its exit codes and words.
 * Not `forced`: a receive to a FILE not there.
 */
async function forcedReceive(
  label: string,
  syscall: string,
  on: (output: string) => string[],
  injects: string[],
  extra: string[] = [],
  forced = true,
) {
  const output = join(suite.dir, `${label}.out`);
  if (forced) writeFileSync(output, "the old file\n");
  const options = {
    extra: [...(forced ? ["--force"] : []), ...extra],
    paths: suite.paths,
    on: on(output),
    injects,
  };
  const recv = stoppedAfter(syscall, label, output, options);
  try {
    const { data, sender } = await randomSender(suite, label, 20_000);
    const codes = [await exitOrKill(recv.proc, EXIT_BOUND_MS), await sender.exit()];
    const [said, printed] = [await recv.stderr, await recv.stdout];
    const copyAt = (path: string) => existsSync(path) && sameBytes(new Uint8Array(readFileSync(path)), data);
    const text = (path: string) => (existsSync(path) ? readFileSync(path, "utf8") : undefined);
    return { output, codes, said, printed, copyAt, text, log: readFileSync(`${output}.strace`, "utf8") };
  } finally {
    recv.kill();
  }
}

testUnless(
  straceUnusable(),
  "recv --out FILE --force: the old file's name FILE.partial not removed after the swap, nor at the verdict (EPERM): kept (exit 0), FILE.partial named as the old file",
  async () => {
    const run = await forcedReceive("swap-unlink", "unlink", (out) => [`${out}.partial`], [
      "unlink:error=EPERM",
    ]);
    expect(run.log).toContain("(INJECTED)");
    // Before: [1, 1], "renaming it to FILE failed: this user may not change DIR/ (EPERM). The received copy,
    // whole and verified, is FILE.partial; the file it was to replace is FILE.ivsh-replaced", with FILE the
    // copy and FILE.partial the old file.
    expect(run.codes).toEqual([0, 0]);
    expect(run.copyAt(run.output)).toBe(true);
    expect(run.text(`${run.output}.partial`)).toBe("the old file\n");
    expect(run.said).toContain(
      `${run.output}.partial is the file ${run.output} replaced, not the received copy (that is ${run.output}): its name could not be removed (EPERM): delete it yourself`,
    );
    expect(run.said).not.toContain("ERROR");
    expect(existsSync(`${run.output}.ivsh-replaced`)).toBe(false);
  },
  60_000,
);

testUnless(
  straceUnusable(),
  "recv --out FILE --force --json: both names of the old file left (EPERM): the summary's warnings name them, as stderr does",
  async () => {
    const on = (out: string) => [`${out}.partial`, `${out}.ivsh-replaced`];
    const run = await forcedReceive("left-json", "unlink", on, ["unlink:error=EPERM"], ["--json"]);
    expect(run.log).toContain("(INJECTED)");
    expect(run.codes).toEqual([0, 0]);
    const summary = JSON.parse(run.printed);
    expect(summary).toMatchObject({ role: "recv", verified: true });
    // Before: no warnings in it; a script reading stdout did not know FILE.partial, which its next
    // `recv --out FILE` refuses to start over, is the old file left.
    const warned = [...run.said.matchAll(/WARN (.*)/g)].map((match) => match[1]);
    expect(warned).toHaveLength(2);
    expect(summary.warnings).toEqual(warned);
    expect(summary.warnings[1]).toStartWith(`${run.output}.partial is the file ${run.output} replaced`);
  },
  60_000,
);

testUnless(
  straceUnusable(),
  "recv --out FILE --force: the old file's name FILE.partial not removed after the swap, removed at the verdict: kept (exit 0), nothing left, nothing said",
  async () => {
    const injects = ["unlink:error=EPERM:when=1"];
    const run = await forcedReceive("swap-unlink-once", "unlink", (out) => [`${out}.partial`], injects);
    expect(run.log).toContain("(INJECTED)");
    expect(run.codes).toEqual([0, 0]);
    expect(run.copyAt(run.output)).toBe(true);
    expect([existsSync(`${run.output}.partial`), existsSync(`${run.output}.ivsh-replaced`)]).toEqual([
      false,
      false,
    ]);
    expect(run.said).not.toContain(".partial");
  },
  60_000,
);

testUnless(
  straceUnusable(),
  "recv --out FILE --force: the second name not removed at the verdict (EPERM): kept (exit 0), FILE.ivsh-replaced named as the old file",
  async () => {
    const on = (out: string) => [`${out}.ivsh-replaced`];
    const run = await forcedReceive("settle-unlink", "unlink", on, ["unlink:error=EPERM"]);
    expect(run.log).toContain("(INJECTED)");
    expect(run.codes).toEqual([0, 0]);
    expect(run.copyAt(run.output)).toBe(true);
    expect(run.text(`${run.output}.ivsh-replaced`)).toBe("the old file\n");
    expect(existsSync(`${run.output}.partial`)).toBe(false);
    expect(run.said).toContain(
      `${run.output}.ivsh-replaced, the file ${run.output} replaced, could not be removed (EPERM): delete it yourself`,
    );
  },
  60_000,
);

testUnless(
  straceUnusable(),
  "recv --out FILE --force: the swap refused (EPERM): not kept (exit 1), FILE the old file, FILE.partial the copy, as said",
  async () => {
    const on = (out: string) => [`${out}.partial`];
    const run = await forcedReceive("swap-refused", "renameat2", on, ["renameat2:error=EPERM:when=1"]);
    expect(run.log).toContain("(INJECTED)");
    expect(run.codes).toEqual([1, 1]);
    expect(run.text(run.output)).toBe("the old file\n");
    expect(run.copyAt(`${run.output}.partial`)).toBe(true);
    expect(existsSync(`${run.output}.ivsh-replaced`)).toBe(false);
    expect(run.said).toContain(`renaming it to ${run.output} failed`);
    expect(run.said).toContain(`The received copy, whole and verified, is ${run.output}.partial`);
    expect(run.said).not.toContain("the file it was to replace is");
  },
  60_000,
);

testUnless(
  straceUnusable(),
  "recv --out FILE --force: the set-aside refused (link and rename EPERM): not kept (exit 1), FILE the old file, FILE.partial the copy, as said",
  async () => {
    const on = (out: string) => [`${out}.ivsh-replaced`];
    const run = await forcedReceive("aside-refused", "link,renameat2", on, ["link,renameat2:error=EPERM"]);
    expect(run.log).toContain("(INJECTED)");
    expect(run.codes).toEqual([1, 1]);
    expect(run.text(run.output)).toBe("the old file\n");
    expect(run.copyAt(`${run.output}.partial`)).toBe(true);
    expect(existsSync(`${run.output}.ivsh-replaced`)).toBe(false);
    expect(run.said).toContain(`setting aside ${run.output}, the file it replaces, failed`);
    expect(run.said).toContain(`The received copy, whole and verified, is ${run.output}.partial`);
  },
  60_000,
);

// Where renameat2 has no flags (some FUSE file systems; strace answers each EINVAL), the keep links the copy
// to FILE, then removes its name FILE.partial: that removal refused (EPERM, as in an append-only directory).
const noFlags = "renameat2:error=EINVAL";

testUnless(
  straceUnusable(),
  "recv --out FILE, no renameat2 flags: the copy's name FILE.partial not removed after its link to FILE, nor at the verdict (EPERM): kept (exit 0), FILE.partial named as a second name of the copy",
  async () => {
    const on = (out: string) => [`${out}.partial`];
    const run = await forcedReceive(
      "link-unlink",
      "renameat2,unlink",
      on,
      [noFlags, "unlink:error=EPERM"],
      [],
      false,
    );
    expect(run.log).toContain("EINVAL (Invalid argument) (INJECTED)");
    expect(run.log).toContain("EPERM (Operation not permitted) (INJECTED)");
    // Before: [1, 1], "renaming it to FILE failed: ... The received copy, whole and verified, is FILE.partial",
    // with FILE the copy (the link made) all the same.
    expect(run.codes).toEqual([0, 0]);
    expect(run.copyAt(run.output)).toBe(true);
    expect(run.copyAt(`${run.output}.partial`)).toBe(true);
    expect(run.said).toContain(
      `${run.output}.partial is a second name of the received copy ${run.output}: it could not be removed (EPERM): delete it yourself`,
    );
    expect(run.said).not.toContain("ERROR");
  },
  60_000,
);

testUnless(
  straceUnusable(),
  "recv --out FILE, no renameat2 flags: the copy's name FILE.partial not removed after its link to FILE, removed at the verdict: kept (exit 0), nothing left, nothing said",
  async () => {
    const on = (out: string) => [`${out}.partial`];
    const injects = [noFlags, "unlink:error=EPERM:when=1"];
    const run = await forcedReceive("link-unlink-once", "renameat2,unlink", on, injects, [], false);
    expect(run.log).toContain("EPERM (Operation not permitted) (INJECTED)");
    expect(run.codes).toEqual([0, 0]);
    expect(run.copyAt(run.output)).toBe(true);
    expect(existsSync(`${run.output}.partial`)).toBe(false);
    expect(run.said).not.toContain(".partial");
  },
  60_000,
);
