/**
 * The report's loops interrupted (Ctrl-C, SIGINT). The reader left the OUT it had made behind, empty when
 * no writer had come, half written mid-transfer, and said nothing: a user expects no half file. It now
 * removes an OUT it made, leaves one that was there before (saying what it holds now), says so, and exits
 * 130; the writer says it was interrupted, and exits 130. The bun scripts and `ivsh example` alike.
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Subprocess } from "bun";
import { CLI, REPO } from "./helpers/paths.ts";
import { eventually, exitOrKill } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("minor38-interrupt");
/** A liveness bound with a generous margin for a loaded machine: never a speed. */
const BOUND_MS = 20_000;
/** A small area, so a file takes many hand-offs: the test stops the writer mid-transfer. */
const SIZE = "4097";

const flags = () => ["--socket", suite.socket, "--region", suite.region, "--size", SIZE];
const scriptReader = (out: string, bytes: number) => [
  join(REPO, "examples/fig2-reader.ts"),
  out,
  String(bytes),
  ...flags(),
];
const cliReader = (out: string, bytes: number) => [
  CLI,
  "example",
  "fig2-reader",
  out,
  String(bytes),
  ...flags(),
];

interface End {
  proc: Subprocess<"ignore", "ignore", "pipe">;
  /** What it said on stderr so far. */
  said(): string;
  /** Resolves once its stderr has ended. */
  read: Promise<void>;
}

/** `bun ARGS`, its stderr read as it comes; killed if still running when the next test file starts. */
function start(args: string[]): End {
  const env = { ...process.env, NO_COLOR: "1" };
  const proc = tracked(Bun.spawn([process.execPath, ...args], { stdout: "ignore", stderr: "pipe", env }));
  let said = "";
  const read = (async () => {
    for await (const chunk of proc.stderr) said += Buffer.from(chunk).toString();
  })();
  return { proc, said: () => said, read };
}

/** `end` given Ctrl-C once it has said `words` (or at once, without): its exit and its last line. */
async function interrupted(end: End, words?: string) {
  if (words !== undefined) await eventually(async () => end.said().includes(words), BOUND_MS, `'${words}'`);
  end.proc.kill("SIGINT");
  const code = await exitOrKill(end.proc, BOUND_MS);
  await end.read;
  return { code, said: end.said().trimEnd().split("\n").at(-1) ?? "" };
}

test("bun examples/fig2-reader.ts interrupted before any writer came removes the OUT it made, and says so", async () => {
  const out = join(suite.dir, "alone.out");
  const reader = start(scriptReader(out, 6));
  const { code, said } = await interrupted(reader, "waiting for a writer");
  // Before: 130 without a word, an empty OUT left behind.
  expect({ code, said, out: existsSync(out) }).toEqual({
    code: 130,
    said: `fig2-reader: Failed to receive the file since it was interrupted by SIGINT: ${out}, which this reader had made, was removed (it held 0 of the 6 bytes)`,
    out: false,
  });
}, 60_000);

test("an OUT there before an interrupted reader is left as it was, and said to be", async () => {
  const out = join(suite.dir, "there.out");
  writeFileSync(out, "keep\n");
  const reader = start(cliReader(out, 6));
  const { code, said } = await interrupted(reader, "waiting for a writer");
  expect({ code, said, kept: readFileSync(out, "utf8") }).toEqual({
    code: 130,
    said: `[ivsh] Failed to receive the file since it was interrupted by SIGINT: ${out} was left as it was`,
    kept: "keep\n",
  });
}, 60_000);

/** A reader of a 64 MiB file, interrupted with its writer stopped mid-transfer; the writer then continued. */
async function interruptedMidTransfer(reader: (out: string, bytes: number) => string[], out: string) {
  const input = join(suite.dir, "big.in");
  const bytes = 64 << 20;
  if (!existsSync(input)) writeFileSync(input, Buffer.alloc(bytes, 7));
  const receiving = start(reader(out, bytes));
  const writer = start([join(REPO, "examples/fig1-writer.ts"), input, ...flags()]);
  try {
    // Chunks came (more than an OUT there before holds): the writer is stopped, the transfer half done.
    const inOut = () => (existsSync(out) ? statSync(out).size : 0);
    await eventually(async () => inOut() > 2 * Number(SIZE), BOUND_MS, "the first chunks in OUT");
    writer.proc.kill("SIGSTOP");
    const held = statSync(out).size;
    const { code, said } = await interrupted(receiving);
    writer.proc.kill("SIGCONT");
    // The writer, continued, is told its reader left: it ends too.
    expect(await exitOrKill(writer.proc, BOUND_MS)).toBe(1);
    return { code, said, held, bytes };
  } finally {
    writer.proc.kill("SIGKILL");
    receiving.proc.kill("SIGKILL");
  }
}

test("ivsh example fig2-reader interrupted mid-transfer removes the half OUT it made, and says how much it held", async () => {
  const out = join(suite.dir, "half.out");
  const { code, said, held, bytes } = await interruptedMidTransfer(cliReader, out);
  expect(held).toBeLessThan(bytes);
  // Before: 130 without a word, the half file left behind.
  expect({ code, out: existsSync(out) }).toEqual({ code: 130, out: false });
  expect(said).toMatch(
    new RegExp(
      `^\\[ivsh\\] Failed to receive the file since it was interrupted by SIGINT: ${out}, which this reader had made, was removed \\(it held \\d+ of the ${bytes} bytes\\)$`,
    ),
  );
}, 90_000);

test("bun examples/fig2-reader.ts interrupted mid-transfer into an OUT that was there says what it holds now, and keeps it", async () => {
  const out = join(suite.dir, "half-there.out");
  writeFileSync(out, "old\n");
  const { code, said, bytes } = await interruptedMidTransfer(scriptReader, out);
  expect({ code, out: existsSync(out) }).toEqual({ code: 130, out: true });
  const now = statSync(out).size;
  expect(said).toBe(
    `fig2-reader: Failed to receive the file since it was interrupted by SIGINT: ${out}, there before this reader, was emptied as the transfer began and holds ${now} of the ${bytes} bytes now: remove it, or run both again`,
  );
}, 90_000);

test("ivsh example fig1-writer interrupted says so, and exits 130", async () => {
  const input = join(suite.dir, "writer.in");
  writeFileSync(input, "hello\n");
  const writer = start([CLI, "example", "fig1-writer", input, ...flags()]);
  const { code, said } = await interrupted(writer, "waiting for a reader");
  // Before: 130 without a word.
  expect({ code, said }).toEqual({
    code: 130,
    said: "[ivsh] Failed to send the file since it was interrupted by SIGINT",
  });
}, 60_000);
