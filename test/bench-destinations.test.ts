/**
 * `ivsh bench`'s check of where it writes (src/commands/_bench-destinations.ts), run before it measures:
 * a --json or --out it passes and that cannot be written fails only after the whole run, its figures lost.
 * Called directly: through the CLI, a path the check wrongly passed would start minutes of measuring.
 */
import { afterAll, expect, test } from "bun:test";
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { writeJson } from "../src/bench/output.ts";
import { checkDestinations, holdJsonFifo } from "../src/commands/_bench-destinations.ts";
import { NOBODY, notRoot, runAsNobody } from "./helpers/as-nobody.ts";
import { REPO } from "./helpers/paths.ts";
import { testUnless, toolMissing } from "./helpers/tools.ts";

const dir = mkdtempSync(join(tmpdir(), "ivsh-bench-destinations-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** What the check says of `args`: its message, or "passed". */
function said(args: Parameters<typeof checkDestinations>[0]): string {
  try {
    checkDestinations(args);
    return "passed";
  } catch (error) {
    return (error as Error).message;
  }
}

// Written through (output.ts's writeWhole), a --json that is a link to nothing is opened where it points:
// into /etc/passwd/ that fails (ENOTDIR), after the run. Its directory exists, but is a file.
test("--json, a link to a path through a file, is refused before the run", () => {
  const json = join(dir, "through-file.json");
  symlinkSync("/etc/passwd/results.json", json);
  expect(said({ json })).toBe(
    `Failed to write --json ${json} since /etc/passwd is not a directory this user may write`,
  );
});

// A name longer than the file system's 255 bytes cannot be made: the check walked up to the existing
// directory above it and passed, and mkdir (--out) or the write (--json) failed with ENAMETOOLONG after the run.
test("--out and --json named longer than the file system allows are refused before the run", () => {
  const long = join(dir, "n".repeat(300));
  for (const [flag, args] of [
    ["--out", { out: long }],
    ["--out", { out: join(long, "figures") }],
    ["--json", { json: `${long}.json` }],
  ] as const)
    expect(said(args)).toStartWith(
      `Failed to write ${flag} ${Object.values(args)[0]} since a name on its path is longer than the file system allows (ENAMETOOLONG)`,
    );
});

// A relative link is resolved from the directory it is really in: reached through a link to that
// directory (DIR/via -> DIR/real/sub), "../missing" is DIR/real/missing, not DIR/missing as the refusal said.
test("a link to nothing, reached through a link to its directory, is refused naming where it really points", () => {
  const real = join(dir, "real", "sub");
  mkdirSync(real, { recursive: true });
  symlinkSync(join("..", "missing", "results.json"), join(real, "results.json"));
  symlinkSync(join("..", "missing"), join(real, "figures"));
  const via = join(dir, "via");
  const really = realpathSync(join(dir, "real"));
  symlinkSync(real, via);
  const json = join(via, "results.json");
  expect(said({ json })).toStartWith(
    `Failed to write --json ${json} since ${json} is a link to ${join(really, "missing", "results.json")}, `,
  );
  const out = join(via, "figures", "svg");
  expect(said({ out })).toStartWith(
    `Failed to write --out ${out} since ${join(via, "figures")} is a link to ${join(really, "missing")}, `,
  );
});

// A loop of links on the way (DIR/loop -> loop) was refused as "DIR/loop is a link to DIR/loop, which does
// not exist: create it", advice that cannot be followed: it exists, and leads nowhere.
test("an --out or --json through a loop of links is refused as a loop", () => {
  const loop = join(dir, "loop");
  symlinkSync("loop", loop);
  for (const args of [{ out: loop }, { out: join(loop, "figures") }, { json: join(loop, "results.json") }])
    expect(said(args)).toBe(
      `Failed to write ${"out" in args ? `--out ${args.out}` : `--json ${args.json}`} since ${loop} is a loop ` +
        `of links, which leads nowhere: remove the loop, or pass another ${"out" in args ? "--out" : "--json"}`,
    );
});

// Below a directory not made yet, lstat says ENOENT of a name too long, not ENAMETOOLONG: the check walked
// up past both and passed, and mkdir -p (--out) or the write (--json) failed with ENAMETOOLONG after the run.
test("--out and --json named longer than the file system allows below a directory to make are refused", () => {
  const long = join(dir, "to-make", "n".repeat(300));
  for (const [flag, args] of [
    ["--out", { out: long }],
    ["--out", { out: join(dir, "to-make", "figures", "n".repeat(300), "more") }],
    ["--json", { json: `${long}.json` }],
  ] as const)
    expect(said(args)).toStartWith(
      `Failed to write ${flag} ${Object.values(args)[0]} since a name on its path is longer than the file system allows (ENAMETOOLONG)`,
    );
});

/** What the check says of each of `cases`, run as nobody (a script written into `shared`). */
function saidToNobody(shared: string, cases: object[]): string[] {
  const script = join(shared, "check.ts");
  writeFileSync(
    script,
    `import { checkDestinations } from ${JSON.stringify(join(REPO, "src/commands/_bench-destinations.ts"))};\n` +
      "for (const args of JSON.parse(process.argv[2])) {\n" +
      "  try { checkDestinations(args); console.log('passed'); } catch (error) { console.log(error.message); }\n" +
      "}\n",
  );
  return runAsNobody(script, [JSON.stringify(cases)])
    .trim()
    .split("\n");
}

// A directory its user may write but not search (mode 0666: no x) takes no new entry (EACCES), nor does
// one below it, which cannot even be looked at: the check asked only W_OK and passed, and mkdir (--out) or
// the write (--json) failed after the run.
testUnless(
  notRoot ?? toolMissing("setpriv"),
  "--out and --json in a directory the user may write but not search are refused before the run",
  () => {
    const shared = join(dir, "as-nobody");
    mkdirSync(join(shared, "unsearchable", "below"), { recursive: true });
    chownSync(join(shared, "unsearchable"), NOBODY, NOBODY);
    chmodSync(join(shared, "unsearchable"), 0o666);
    chmodSync(dir, 0o755);
    chmodSync(shared, 0o755);
    const unsearchable = join(shared, "unsearchable");
    const cases = [
      { out: join(unsearchable, "figures") },
      { out: join(unsearchable, "below", "figures") },
      { json: join(unsearchable, "results.json") },
    ];
    const flag = (args: (typeof cases)[number]) =>
      "out" in args ? `--out ${args.out}` : `--json ${args.json}`;
    expect(saidToNobody(shared, cases)).toEqual(
      cases.map(
        (args) =>
          `Failed to write ${flag(args)} since ${unsearchable} is not a directory this user may write`,
      ),
    );
  },
);

// Written into, not replaced (output.ts's writeWhole): --json /dev/stdout, /dev/null or a FIFO of the user's
// own takes no new file beside it, but the check asked for its directory writable, which /dev is only to
// root: any other user's `ivsh bench --json /dev/stdout` was refused ('/dev is not a directory this user
// may write').
testUnless(
  notRoot ?? toolMissing("setpriv") ?? toolMissing("mkfifo"),
  "--json /dev/stdout, /dev/null or a FIFO of the user's own, in a directory the user may not write, passes the check",
  () => {
    const shared = join(dir, "written-into");
    mkdirSync(shared, { recursive: true });
    chmodSync(dir, 0o755);
    chmodSync(shared, 0o755);
    const fifo = join(shared, "results.fifo");
    expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
    chownSync(fifo, NOBODY, NOBODY);
    const cases = ["/dev/stdout", "/dev/null", fifo];
    expect(
      saidToNobody(
        shared,
        cases.map((json) => ({ json })),
      ),
    ).toEqual(cases.map(() => "passed"));
  },
);

// A --json that is a link to an existing file is written where the file is (output.ts's writeWhole: a
// temporary file beside it, renamed over it): only the link's own directory was checked, and the write
// failed (EACCES) after the run when the file's directory was not this user's to write.
testUnless(
  notRoot ?? toolMissing("setpriv"),
  "--json, a link to a file in a directory the user may not write, is refused before the run",
  () => {
    const shared = join(dir, "as-nobody-link");
    const locked = join(shared, "locked");
    const mine = join(shared, "mine");
    mkdirSync(locked, { recursive: true });
    mkdirSync(mine);
    writeFileSync(join(locked, "results.json"), "{}\n");
    chownSync(mine, NOBODY, NOBODY);
    chmodSync(dir, 0o755);
    chmodSync(shared, 0o755);
    const json = join(mine, "results.json");
    symlinkSync(join(locked, "results.json"), json);
    expect(saidToNobody(shared, [{ json }])).toEqual([
      `Failed to write --json ${json} since ${locked} is not a directory this user may write`,
    ]);
  },
);

// Written into (output.ts's writeWhole), a FIFO or device is opened for writing after the run: one the user
// may not write (root's FIFO, mode 0644; a device such as /dev/mem, mode 0640) passed the check since
// 84188a5 skipped every check of a path written into, and the JSON was lost after the run (EACCES).
testUnless(
  notRoot ?? toolMissing("setpriv") ?? toolMissing("mkfifo") ?? toolMissing("mknod"),
  "--json a FIFO or device the user may not write is refused before the run",
  () => {
    const shared = join(dir, "not-written-into");
    mkdirSync(shared, { recursive: true });
    chownSync(shared, NOBODY, NOBODY);
    chmodSync(dir, 0o755);
    const fifo = join(shared, "roots.fifo");
    expect(Bun.spawnSync(["mkfifo", "-m", "0644", fifo]).exitCode).toBe(0);
    const device = join(shared, "roots-null");
    expect(Bun.spawnSync(["mknod", "-m", "0600", device, "c", "1", "3"]).exitCode).toBe(0);
    const cases = [fifo, device];
    expect(
      saidToNobody(
        shared,
        cases.map((json) => ({ json })),
      ),
    ).toEqual(
      cases.map(
        (json) =>
          `Failed to write --json ${json} since ${json} is a FIFO or device this user may not write: pass another --json`,
      ),
    );
  },
);

// A socket (a server's, listening) is neither replaced nor written into: opened for writing after the run,
// it failed (ENXIO) and the JSON was lost. Reached through a link too.
test("--json a socket is refused before the run", () => {
  const socket = join(dir, "results.sock");
  const server = Bun.listen({ unix: socket, socket: { data() {} } });
  try {
    const link = join(dir, "to-socket.json");
    symlinkSync(socket, link);
    for (const json of [socket, link])
      expect(said({ json })).toBe(
        `Failed to write --json ${json} since it is a socket, which no file can be written to (ENXIO): name the FILE to write`,
      );
  } finally {
    server.stop(true);
  }
});

// One of this process's descriptors is written into after the run: one not open (--json /dev/fd/N without
// N>FILE) failed then (ENOENT), the JSON lost.
test("--json naming a descriptor that is not open is refused before the run", () => {
  for (const json of ["/dev/fd/987", "/proc/self/fd/987"])
    expect(said({ json })).toBe(
      `Failed to write --json ${json} since it names a descriptor this process does not have open: open it (as the shell's N>FILE does), or pass another --json`,
    );
  expect(said({ json: "/dev/stdout" })).toBe("passed");
});

// /dev/full takes no write (ENOSPC): it passed the checks (a device this user may write) and the JSON
// failed after the whole run. Reached through a link or as this process's stdout too. A memory device
// that takes any write is still written into; a terminal or other device is not written to by the check.
test("--json /dev/full is refused before the run, /dev/null is not", () => {
  const link = join(dir, "to-full.json");
  symlinkSync("/dev/full", link);
  for (const json of ["/dev/full", link])
    expect(said({ json })).toBe(
      `Failed to write --json ${json} since it is /dev/full, where every write fails (ENOSPC): name the FILE to write, or /dev/null to keep no JSON`,
    );
  for (const json of ["/dev/null", "/dev/zero"]) expect(said({ json })).toBe("passed");
});

test("--json /dev/stdout when stdout is /dev/full is refused before the run", () => {
  const script =
    `import { checkDestinations } from ${JSON.stringify(join(REPO, "src/commands/_bench-destinations.ts"))};\n` +
    "try { checkDestinations({ json: '/dev/stdout' }); console.error('passed'); } catch (error) { console.error(error.message); }\n";
  const run = Bun.spawnSync(["sh", "-c", 'exec "$@" > /dev/full', "sh", process.execPath, "-e", script], {
    stderr: "pipe",
  });
  expect(run.stderr.toString()).toContain("since it is /dev/full, where every write fails (ENOSPC)");
});

/** What holding --json `fifo` for the run says (the last check before it, after checkDestinations'). */
function heldSaid(fifo: string): string {
  try {
    holdJsonFifo(fifo);
    return "passed";
  } catch (error) {
    return (error as Error).message;
  }
}

// A FIFO nobody reads passed the check, and after the whole run the write waited for a reader for ever.
// A check that opened it and closed it again would end a reader already there (end of file for cat, jq),
// and the run's end wait for ever all the same: it is held open from the check to the write.
test("--json a FIFO with no reader is refused before the run; one with a reader gets the JSON", async () => {
  const fifo = join(dir, "results.fifo");
  expect(Bun.spawnSync(["mkfifo", fifo]).exitCode).toBe(0);
  expect(said({ json: fifo })).toBe("passed"); // opens nothing: a refusal after it would end the reader
  expect(heldSaid(fifo)).toBe(
    `Failed to write --json ${fifo} since no program reads the FIFO: start its reader first (e.g. jq . < ${fifo} &), then the benchmark`,
  );
  const reader = Bun.spawn(["cat", fifo], { stdout: "pipe" });
  const read = new Response(reader.stdout).text();
  try {
    // cat counts as the FIFO's reader once it is in its open(2): until it has got there, the check refuses.
    for (let tries = 0; heldSaid(fifo) !== "passed"; tries++) {
      expect(tries).toBeLessThan(2000);
      await Bun.sleep(5);
    }
    await writeJson(fifo, { run: 3 });
    expect(await read).toBe(`${JSON.stringify({ run: 3 }, null, 2)}\n`);
    expect(await reader.exited).toBe(0);
  } finally {
    reader.kill();
  }
}, 30_000);

// "results/" names a directory even before it exists: passed, the write failed (ENOTDIR) after the run.
test("--json naming a directory that does not exist yet (ending in /) is refused before the run", () => {
  const json = join(dir, "results-to-come/");
  expect(said({ json })).toBe(
    `Failed to write --json ${json} since it names a directory: name the FILE to write`,
  );
});

// --scale keeps no file on disk: --disk-dir is not its business (the command refuses one given to it), and
// a host without /var/tmp must still run it.
test("--disk-dir that is missing is refused before the run, but not for --scale, which uses no disk", () => {
  const missing = join(dir, "no-such-disk-dir");
  expect(said({ "disk-dir": missing })).toStartWith(
    `Failed to use --disk-dir ${missing} since it is not an existing directory`,
  );
  expect(said({ scale: "2", "disk-dir": missing })).toBe("passed");
});
