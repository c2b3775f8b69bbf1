/**
 * The report's loops started alone: the writer with no reader, the reader with no writer. Each waited in
 * silence for ever, and a user saw nothing; each now says once on stderr what it waits for and how to
 * start the other end (its own flags echoed), and Ctrl-C still ends it at once, leaving the arbiter able to
 * run the next pair.
 */
import { expect, test } from "bun:test";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { CLI, REPO } from "./helpers/paths.ts";
import { eventually, exitOrKill, spawnBun } from "./helpers/processes.ts";
import { tracked } from "./helpers/reaper.ts";
import { sharedArbiter } from "./helpers/shared-arbiter.ts";

const suite = sharedArbiter("minor37-alone");
/** A liveness bound: the notice comes 2 s after the loop starts waiting; bun's start on a loaded machine. */
const BOUND_MS = 20_000;

/** `bun ARGS`, once it says `words` on stderr (read as it comes), given Ctrl-C: its exit and all it said. */
async function saysThenInterrupted(args: string[], words: string) {
  const env = { ...process.env, NO_COLOR: "1" };
  const end = tracked(Bun.spawn([process.execPath, ...args], { stdout: "ignore", stderr: "pipe", env }));
  let said = "";
  const reading = (async () => {
    for await (const chunk of end.stderr) said += Buffer.from(chunk).toString();
  })();
  try {
    await eventually(async () => said.includes(words), BOUND_MS, `'${words}'`);
    await Bun.sleep(3000); // once: not said again as it waits on
    end.kill("SIGINT");
    const code = await exitOrKill(end, BOUND_MS);
    await reading;
    return { code, said };
  } finally {
    end.kill("SIGKILL");
  }
}

async function pairGoesThrough(input: string, flags: string[]) {
  const output = join(suite.dir, "after.out");
  const reader = spawnBun([join(REPO, "examples/fig2-reader.ts"), output, "6", ...flags]);
  const writer = spawnBun([join(REPO, "examples/fig1-writer.ts"), input, ...flags]);
  expect([await writer.exit(BOUND_MS), await reader.exit(BOUND_MS)]).toEqual([0, 0]);
  expect(readFileSync(output, "utf8")).toBe("hello\n");
}

test("fig1-writer alone says once that it waits for a reader and how to start one; Ctrl-C ends it", async () => {
  const input = join(suite.dir, "writer-alone.in");
  writeFileSync(input, "hello\n");
  const flags = ["--socket", suite.socket, "--region", suite.region];
  const writer = [join(REPO, "examples/fig1-writer.ts"), input, ...flags];
  // Before: nothing on stderr ('waiting for a reader' did not happen within 20000 ms).
  const { code, said } = await saysThenInterrupted(writer, "waiting for a reader");
  expect({ code, said }).toEqual({
    code: 130,
    said:
      "fig1-writer: waiting for a reader to take the first chunk: start one with `bun examples/fig2-reader.ts " +
      `OUT 6 --socket ${suite.socket} --region ${suite.region}\` (OUT: where it writes this file of 6 bytes), ` +
      "or Ctrl-C to give up\n" +
      // Before: nothing said of the interrupt (killed by the signal).
      "fig1-writer: Failed to send the file since it was interrupted by SIGINT\n",
  });
  await pairGoesThrough(input, flags);
}, 90_000);

test("ivsh example fig2-reader alone says once that it waits for a writer and how to start one; Ctrl-C ends it", async () => {
  const flags = ["--socket", suite.socket, "--region", suite.region, "--size", "4097"];
  const out = join(suite.dir, "reader-alone.out");
  const reader = [CLI, "example", "fig2-reader", out, "6", ...flags];
  // Before: nothing on stderr ('waiting for a writer' did not happen within 20000 ms).
  const { code, said } = await saysThenInterrupted(reader, "waiting for a writer");
  expect({ code, said }).toEqual({
    code: 130,
    said:
      "[ivsh] ℹ waiting for a writer to make the area: start one with `ivsh example fig1-writer FILE " +
      `--socket ${suite.socket} --region ${suite.region} --size 4097\` (FILE: the file of 6 bytes to send), ` +
      "or Ctrl-C to give up\n" +
      // Before: nothing said, and OUT left behind empty.
      `[ivsh] Failed to receive the file since it was interrupted by SIGINT: ${out}, which this reader had made, ` +
      "was removed (it held 0 of the 6 bytes)\n",
  });
  expect(existsSync(out)).toBe(false);
}, 90_000);
