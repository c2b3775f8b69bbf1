/**
 * A bench run killed outright (SIGKILL, the OOM killer) while writing an output leaves its temporary file,
 * `.ivsh-PID-N-RANDOM.tmp`, beside the output: no clean-up runs. Those stayed for ever. The next run
 * writing there removes those of runs that are gone (a pid not alive, not modified for ten minutes: a
 * live run in another pid namespace may have a pid dead here), and nothing else.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { basename, join } from "node:path";
import { writeJson } from "../../src/bench/output.ts";
import { REPO } from "../helpers/paths.ts";
import { EventStream } from "../helpers/processes.ts";
import { tracked } from "../helpers/reaper.ts";

let dir: string;

beforeAll(() => {
  dir = mkdtempSync("/tmp/ivsh-bench-test-leftovers-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/**
 * A process that makes its temporary file in `at`, as writeWhole does, says so, and waits to be killed:
 * started and SIGKILLed, its pid no longer alive. The file's name.
 */
async function leftByKilledRun(at: string): Promise<string> {
  const script =
    `import { writeFileSync } from "node:fs";\n` +
    `import { temporaryIn } from ${JSON.stringify(join(REPO, "src/bench/temporaries.ts"))};\n` +
    "const temporary = temporaryIn(process.argv[1]);\n" +
    "writeFileSync(temporary, '{\"half\": ');\n" +
    "console.log(JSON.stringify({ event: 'made', temporary }));\n" +
    "setInterval(() => {}, 1000);\n";
  const run = tracked(Bun.spawn([process.execPath, "-e", script, at], { stdout: "pipe", stderr: "inherit" }));
  const made = await new EventStream(run.stdout).next("made");
  run.kill("SIGKILL");
  await run.exited;
  return basename(made.temporary as string);
}

/** Its modification time set back by `minutes`. */
function aged(path: string, minutes: number): void {
  const then = new Date(Date.now() - minutes * 60_000);
  utimesSync(path, then, then);
}

test("a run writing where a killed run left its temporary file removes it, and only it", async () => {
  const at = mkdtempSync(join(dir, "killed-"));
  const killed = await leftByKilledRun(at);
  const killedRecently = await leftByKilledRun(at);
  aged(join(at, killed), 11);
  // A live process's (this one's parent, which outlives this test), however old; names of other shapes.
  const live = `.ivsh-${process.ppid}-1-0123456789ab.tmp`;
  const others = [".ivsh-1x-1-0123456789ab.tmp", ".ivsh-999999999-1-0123456789ab.tmp.keep", "notes.tmp"];
  for (const name of [live, ...others]) {
    writeFileSync(join(at, name), "");
    aged(join(at, name), 60);
  }
  expect(readdirSync(at)).toContain(killed);
  await writeJson(join(at, "results.json"), { run: 1 });
  expect(JSON.parse(readFileSync(join(at, "results.json"), "utf8"))).toEqual({ run: 1 });
  expect(readdirSync(at).sort()).toEqual([killedRecently, live, ...others, "results.json"].sort());
}, 30_000);
