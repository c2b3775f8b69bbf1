/**
 * `ivsh bench` writing its outputs to a file system that fills up: the other outputs survive, and no
 * truncated file (an SVG that no XML parser reads, half a JSON document) is left, nor one replaced by it.
 */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { renderBarChart } from "../../src/bench/charts.ts";
import { FIGURE_FILES } from "../../src/bench/figures.ts";
import { writeJson, writeWhole } from "../../src/bench/output.ts";
import { CLI } from "../helpers/paths.ts";
import { spawnBun } from "../helpers/processes.ts";
import { cannotMount, withSmallTmpfs as withTmpfs } from "../helpers/small-fs.ts";
import { testUnless } from "../helpers/tools.ts";
import { parseXml } from "./xml.ts";

let dir: string;
beforeAll(() => {
  dir = mkdtempSync("/tmp/ivsh-bench-test-full-");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A tmpfs of `size` at DIR/NAME for `body`, unmounted after. */
function withSmallTmpfs(name: string, size: string, body: (at: string) => Promise<void>) {
  return withTmpfs(join(dir, name), size, body);
}

/** Every file in `at` is a whole SVG document; nothing else (a temporary file) is there. */
function expectWholeFigures(at: string): void {
  for (const name of readdirSync(at)) {
    expect(FIGURE_FILES as readonly string[]).toContain(name);
    expect(parseXml(readFileSync(join(at, name), "utf8")).name).toBe("svg");
  }
}

/** A valid bar chart of `categories` bars: about 0.6 KiB each. */
function chart(categories: number): string {
  const names = Array.from({ length: categories }, (_, index) => `method ${index}`);
  const values = names.map((_, index) => ({ value: index + 1, low: index + 0.5, high: index + 1.5 }));
  return renderBarChart({ title: "t", yLabel: "GB/s", categories: names, series: [{ label: "s", values }] });
}

testUnless(
  cannotMount,
  "a figure that no longer fits: an error naming it, the previous one kept whole",
  async () => {
    await withSmallTmpfs("figures", "8k", async (at) => {
      const path = join(at, "fig3b-methods.svg");
      await writeWhole(path, chart(2));
      const previous = readFileSync(path, "utf8");
      const written = writeWhole(path, chart(40));
      await expect(written).rejects.toThrow(`Failed to write ${path} since no space left on device (ENOSPC)`);
      expect(readdirSync(at)).toEqual(["fig3b-methods.svg"]);
      expect(readFileSync(path, "utf8")).toBe(previous);
    });
  },
);

testUnless(cannotMount, "a JSON file that no longer fits keeps the previous one", async () => {
  await withSmallTmpfs("json", "8k", async (at) => {
    const path = join(at, "results.json");
    writeFileSync(path, '{"previous": true}\n');
    const written = writeJson(path, { samples: "x".repeat(64 << 10) });
    await expect(written).rejects.toThrow(/no space left on device/);
    expect(readdirSync(at)).toEqual(["results.json"]);
    expect(readFileSync(path, "utf8")).toBe('{"previous": true}\n');
  });
});

testUnless(
  cannotMount,
  "bench --quick with a full --out: the tables and the JSON are still written, exit 1",
  async () => {
    await withSmallTmpfs("out", "12k", async (at) => {
      const json = join(dir, "results.json");
      const run = spawnBun([CLI, "bench", "--quick", "--json", json, "--out", join(at, "figures")]);
      const [exitCode, stderr] = await Promise.all([run.exit(170_000), run.stderr, run.events.finished]);
      expect(stderr).toMatch(/Failed to write .*\.svg since no space left on device/);
      expect(exitCode).toBe(1);
      expect(run.events.text).toContain("## Goals");
      expect(JSON.parse(readFileSync(json, "utf8")).schema).toBe("ivsh-bench/2");
      expectWholeFigures(join(at, "figures"));
    });
  },
  180_000,
);

/**
 * The JSON is written before the figures: a --json on a full file system failed the run there, and the
 * figures, whose --out had room, were never written.
 */
testUnless(
  cannotMount,
  "bench --quick with a full --json: the tables and the figures are still written, exit 1",
  async () => {
    await withSmallTmpfs("json-full", "12k", async (at) => {
      const json = join(at, "results.json");
      const figures = join(dir, "figures-beside-full-json");
      const run = spawnBun([CLI, "bench", "--quick", "--json", json, "--out", figures, "--disk-dir", dir]);
      const [exitCode, stderr] = await Promise.all([run.exit(170_000), run.stderr, run.events.finished]);
      expect(stderr).toContain(`Failed to write ${json} since no space left on device`);
      expect(exitCode).toBe(1);
      expect(run.events.text).toContain("## Goals");
      expect(readdirSync(figures).sort()).toEqual([...FIGURE_FILES].sort());
      expectWholeFigures(figures);
      expect(readdirSync(at)).toEqual([]);
    });
  },
  180_000,
);

/**
 * The tables go to stdout first: a stdout on a full file system (here /dev/full) failed the run there,
 * and the JSON and the figures, whose destinations had room, were never written.
 */
test("bench --quick with a full stdout: the JSON and the figures are still written, exit 1", async () => {
  const json = join(dir, "results-beside-full-stdout.json");
  const figures = join(dir, "figures-beside-full-stdout");
  const bench = [
    process.execPath,
    CLI,
    "bench",
    "--quick",
    "--json",
    json,
    "--out",
    figures,
    "--disk-dir",
    dir,
  ];
  const run = Bun.spawn(["sh", "-c", 'exec "$@" > /dev/full', "sh", ...bench], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  const timer = setTimeout(() => run.kill("SIGINT"), 170_000);
  const [exitCode, stderr] = await Promise.all([run.exited, new Response(run.stderr).text()]);
  clearTimeout(timer);
  expect(stderr).toContain("Failed to write the output to stdout since no space left on device");
  expect(exitCode).toBe(1);
  expect(JSON.parse(readFileSync(json, "utf8")).schema).toBe("ivsh-bench/2");
  expect(readdirSync(figures).sort()).toEqual([...FIGURE_FILES].sort());
  expectWholeFigures(figures);
}, 180_000);

/** The same for --scale: its tables failed on a full stdout and its --json was never written. */
test("bench --scale --quick with a full stdout: the JSON is still written, exit 1", async () => {
  const json = join(dir, "scale-beside-full-stdout.json");
  const bench = [process.execPath, CLI, "bench", "--scale", "--quick", "--json", json];
  const run = Bun.spawn(["sh", "-c", 'exec "$@" > /dev/full', "sh", ...bench], {
    stdin: "ignore",
    stdout: "ignore",
    stderr: "pipe",
    env: { ...process.env, NO_COLOR: "1" },
  });
  const timer = setTimeout(() => run.kill("SIGINT"), 110_000);
  const [exitCode, stderr] = await Promise.all([run.exited, new Response(run.stderr).text()]);
  clearTimeout(timer);
  expect(stderr).toContain("Failed to write the output to stdout since no space left on device");
  expect(exitCode).toBe(1);
  expect(JSON.parse(readFileSync(json, "utf8")).plan.clients).toBe(40);
}, 120_000);
