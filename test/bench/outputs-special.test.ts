/**
 * `ivsh bench --json FILE` (and the figures of --out) where FILE is not a plain file. Each output is written
 * whole through a temporary file renamed over it, which must not replace what FILE is: a symbolic link is
 * written through, as the shell's `>` does, and a FIFO (`--json >(jq .)`) is written into. (A device is
 * too, `--json /dev/stdout`: renamed over, run as root, that replaced the machine's /dev/stdout; not tried
 * here for that reason.)
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import {
  closeSync,
  constants,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { basename, join } from "node:path";
import { writeJson } from "../../src/bench/output.ts";
import { CLI } from "../helpers/paths.ts";
import { spawnBun } from "../helpers/processes.ts";
import { testUnless } from "../helpers/tools.ts";

let dir: string;

beforeAll(() => {
  dir = mkdtempSync("/tmp/ivsh-bench-test-special-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

test("a --json that is a symbolic link is written through: the link stays, the file it names gets the results", async () => {
  const named = join(dir, "kept.json");
  writeFileSync(named, '{"previous": true}\n');
  const link = join(dir, "link.json");
  symlinkSync(named, link);
  await writeJson(link, { run: 1 });
  expect(lstatSync(link).isSymbolicLink()).toBe(true);
  expect(JSON.parse(readFileSync(named, "utf8"))).toEqual({ run: 1 });
  expect(readdirSync(dir).sort()).toEqual(["kept.json", "link.json"]);
});

test("a --json that is a FIFO (--json >(jq .)) is written into: its reader gets the results", async () => {
  const fifo = join(dir, "results.fifo");
  expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
  // The reader is there first, as `>(jq .)` is (a FIFO nobody reads refuses a writer that will not wait).
  const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    await writeJson(fifo, { run: 2 });
    const bytes = Buffer.alloc(4096);
    let got = 0;
    try {
      got = readSync(reader, bytes);
    } catch {
      // EAGAIN: nothing came (the FIFO was renamed over, and its reader left waiting)
    }
    expect(bytes.toString("utf8", 0, got)).toBe(`${JSON.stringify({ run: 2 }, null, 2)}\n`);
    expect(lstatSync(fifo).isFIFO()).toBe(true);
  } finally {
    closeSync(reader);
  }
});

test("a --json that is a plain file, in /dev/shm too, is still replaced whole: a new file renamed over it", async () => {
  for (const path of [join(dir, "plain.json"), `/dev/shm/ivsh-bench-test-special-${process.pid}.json`]) {
    try {
      writeFileSync(path, '{"previous": true}\n');
      const before = statSync(path).ino;
      await writeJson(path, { run: 3 });
      expect(statSync(path).ino).not.toBe(before);
      expect(JSON.parse(readFileSync(path, "utf8"))).toEqual({ run: 3 });
    } finally {
      rmSync(path, { force: true });
    }
  }
});

/**
 * `--json P --out P`: both passed the checks (P could be made), and after the whole run the JSON took P as
 * a file and the figures then could not make it their directory, lost. Refused at once; the bound is far
 * above a refusal's fraction of a second and far below the run it would otherwise start.
 */
test.each([
  ["the same path", (at: string) => [at, at]],
  ["a --json inside --out, named as a figure", (at: string) => [join(at, "fig3b-methods.svg"), at]],
  // The JSON took the path as a file, and the figures could not make their directory under it.
  ["an --out inside --json", (at: string) => [at, join(at, "figures")]],
  // Compared as written, a link and the directory it names were different paths.
  [
    "an --out that is a link to the directory of a --json named as a figure",
    (at: string) => {
      mkdirSync(at);
      symlinkSync(at, `${at}-link`);
      return [join(at, "fig3b-methods.svg"), `${at}-link`];
    },
  ],
  // A link to nothing yet is written through as well: it was compared as the link's own path, so the JSON
  // went into the figure's file (replaced by the figure) or took --out's path as a file.
  [
    "a --json that is a dangling link to a figure --out will write",
    (at: string) => {
      mkdirSync(at);
      symlinkSync(join(at, "fig3b-methods.svg"), `${at}.json`);
      return [`${at}.json`, at];
    },
  ],
  [
    "a --json that is a dangling link, through a relative one, to --out itself",
    (at: string) => {
      symlinkSync(basename(at), `${at}.target`);
      symlinkSync(basename(`${at}.target`), `${at}.json`);
      return [`${at}.json`, at];
    },
  ],
])(
  "--json and --out on %s: refused before measuring",
  async (name, paths) => {
    const [json, out] = paths(join(dir, name.replace(/\W+/g, "-")));
    const run = spawnBun([CLI, "bench", "--quick", "--json", json!, "--out", out!, "--disk-dir", dir]);
    const outcome = await Promise.race([run.proc.exited, Bun.sleep(20_000).then(() => "late" as const)]);
    if (outcome === "late") run.proc.kill("SIGINT");
    const stderr = await run.stderr;
    expect(stderr).toContain("--json");
    expect(stderr).toContain("--out");
    expect(stderr).not.toContain("round 1");
    expect(outcome).toBe(2);
  },
  40_000,
);

/**
 * A link to nothing on the way to an output: mkdir makes no directory through it (EEXIST), and a file
 * written through a link needs its target's directory. The checks passed them (their parent could be
 * written), and the output was lost after the whole run ("Failed to write ... EEXIST", or ENOENT).
 * Refused at once, naming the link; the bound as above.
 */
test.each([
  ["an --out that is a link to nothing", (at: string) => ["--quick", "--out", link(at, "figures")]],
  [
    "a --json inside a link to nothing",
    (at: string) => ["--scale", "--quick", "--json", join(link(at, "results"), "scale.json")],
  ],
  [
    "a --json that is a link into a directory that does not exist",
    (at: string) => ["--scale", "--quick", "--json", link(at, join("results", "scale.json"))],
  ],
])(
  "%s: refused before measuring",
  async (name, flags) => {
    const at = join(dir, name.replace(/\W+/g, "-"));
    mkdirSync(at);
    const given = flags(at);
    // The default benchmark's file on disk goes in the test's directory; --scale keeps none (refused with it).
    const disk = given.includes("--scale") ? [] : ["--disk-dir", dir];
    const run = spawnBun([CLI, "bench", ...given, ...disk]);
    const outcome = await Promise.race([run.proc.exited, Bun.sleep(20_000).then(() => "late" as const)]);
    if (outcome === "late") run.proc.kill("SIGINT");
    const stderr = await run.stderr;
    expect(stderr).toContain(`${join(at, "link")} is a link to`);
    expect(stderr).not.toContain("round 1");
    expect(stderr).not.toContain("scale: ready");
    expect(outcome).toBe(1);
  },
  40_000,
);

/** AT/link, a link to AT/missing/TARGET (nothing there). */
function link(at: string, target: string): string {
  symlinkSync(join(at, "missing", target), join(at, "link"));
  return join(at, "link");
}

/**
 * A --json that is a loop of links (it names itself, or two name each other): it leads nowhere, and the
 * write through it failed with ELOOP after the whole run, the results lost. Refused at once, naming it.
 */
test.each([
  ["a --json that is a link to itself", (at: string) => symlinkSync(basename(at), at)],
  [
    "a --json in a loop of two links",
    (at: string) => {
      symlinkSync(basename(`${at}.other`), at);
      symlinkSync(basename(at), `${at}.other`);
    },
  ],
])(
  "%s: refused before measuring",
  async (name, make) => {
    const json = join(dir, `${name.replace(/\W+/g, "-")}.json`);
    make(json);
    const run = spawnBun([CLI, "bench", "--scale", "--quick", "--json", json]);
    const outcome = await Promise.race([run.proc.exited, Bun.sleep(20_000).then(() => "late" as const)]);
    if (outcome === "late") run.proc.kill("SIGINT");
    const stderr = await run.stderr;
    expect(stderr).toContain(`Failed to write --json ${json} since it is a loop of links`);
    expect(stderr).not.toContain("scale: ready");
    expect(outcome).toBe(1);
  },
  40_000,
);

/** Needs root (a read-only tmpfs mounted in a mount namespace of its own); skipped otherwise. */
const noMountNamespace =
  Bun.spawnSync(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o ro tmpfs /mnt"], { stderr: "ignore" })
    .exitCode === 0
    ? undefined
    : "cannot mount a tmpfs in a mount namespace of its own (needs root and unshare)";

/**
 * A --json that is a link into a directory this user may not write (here a read-only file system): the
 * checks looked at the link's own directory, and the JSON, written where the link leads, failed (EROFS)
 * after the whole run. Refused at once, whether the link leads to nothing yet or to a file already there.
 */
for (const existing of [false, true])
  testUnless(
    noMountNamespace,
    `a --json that is a link ${existing ? "to a file" : "to nothing yet"} in a read-only directory: refused before measuring`,
    async () => {
      const readOnly = mkdtempSync(join(dir, "read-only-"));
      if (existing) writeFileSync(join(readOnly, "results.json"), "{}\n");
      const json = `${readOnly}.json`;
      symlinkSync(join(readOnly, "results.json"), json);
      const script = `mount --bind ${readOnly} ${readOnly} && mount -o remount,bind,ro ${readOnly} && exec "$@"`;
      const bench = [process.execPath, CLI, "bench", "--scale", "--quick", "--json", json];
      const run = Bun.spawn(["unshare", "-m", "sh", "-c", script, "sh", ...bench], {
        stdin: "ignore",
        stdout: "ignore",
        stderr: "pipe",
        env: { ...process.env, NO_COLOR: "1" },
      });
      const outcome = await Promise.race([run.exited, Bun.sleep(20_000).then(() => "late" as const)]);
      if (outcome === "late") run.kill("SIGINT");
      const stderr = await new Response(run.stderr).text();
      expect(stderr).toContain(
        `Failed to write --json ${json} since ${readOnly} is not a directory this user may write`,
      );
      expect(stderr).not.toContain("scale: ready");
      expect(outcome).toBe(1);
    },
    40_000,
  );
