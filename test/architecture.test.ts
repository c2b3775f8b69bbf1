/**
 * The code's shape: no import cycles among src/ files (type-only imports count: they tie two files'
 * designs together as much as value imports do), each part importing only the parts below it, bun:ffi only
 * in src/ffi, and the README's table of owners naming files that exist.
 */
import { describe, expect, test } from "bun:test";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { unsafeRemovals } from "./helpers/fs-removals.ts";
import { REPO } from "./helpers/paths.ts";

const SRC = join(REPO, "src");
/**
 * `import … from "x"`, `import "x"`, `export … from "x"` (type-only or not, one or many lines), and
 * `import("x")`.
 */
const SPECIFIER =
  /^\s*(?:import|export)\s[^;]*?from\s+"([^"]+)"|^\s*import\s+"([^"]+)"|\bimport\(\s*"([^"]+)"\s*\)/gm;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") ? [path] : [];
  });
}

function specifiers(file: string): string[] {
  const text = readFileSync(file, "utf8");
  return [...text.matchAll(SPECIFIER)].map((match) => (match[1] ?? match[2] ?? match[3])!);
}

/** Each file's imports of other src/ files, by path relative to src/. */
function importGraph(): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of sourceFiles(SRC)) {
    const local = specifiers(file)
      .filter((specifier) => specifier.startsWith("."))
      .map((specifier) => resolve(dirname(file), specifier))
      .filter((target) => target.startsWith(SRC))
      .map((target) => relative(SRC, target));
    graph.set(relative(SRC, file), local);
  }
  return graph;
}

/** Every cycle found by a depth-first walk, each as the path that closes it. */
function cycles(graph: Map<string, string[]>): string[][] {
  const found: string[][] = [];
  const done = new Set<string>();
  const onPath: string[] = [];
  const visit = (file: string) => {
    const at = onPath.indexOf(file);
    if (at >= 0) {
      found.push([...onPath.slice(at), file]);
      return;
    }
    if (done.has(file)) return;
    onPath.push(file);
    for (const next of graph.get(file) ?? []) visit(next);
    onPath.pop();
    done.add(file);
  };
  for (const file of graph.keys()) visit(file);
  return found;
}

describe("the code's shape", () => {
  test("the import graph sees every src/ file and the imports between them", () => {
    const graph = importGraph();
    // A parser that saw nothing would pass the cycle check below vacuously.
    expect(graph.size).toBeGreaterThan(50);
    expect(graph.get("cli.ts")).toContain("commands/bench.ts");
    expect(graph.get("guest/sync.ts")).toContain("guest/parking.ts");
  });

  test("the checker finds a cycle when there is one", () => {
    const graph = new Map([
      ["a.ts", ["b.ts"]],
      ["b.ts", ["c.ts"]],
      ["c.ts", ["a.ts"]],
      ["d.ts", ["a.ts"]],
    ]);
    expect(cycles(graph)).toEqual([["a.ts", "b.ts", "c.ts", "a.ts"]]);
  });

  test("no import cycles in src/, type-only imports included", () => {
    const found = cycles(importGraph()).map((cycle) => cycle.join(" → "));
    expect(found).toEqual([]);
  });

  test("each part imports only the parts below it (ffi → region → guest / host → transfer → commands)", () => {
    // The folders each part may import besides its own and the shared top-level files (errors.ts, log.ts,
    // units.ts, ...; "" below), which import ffi at most. The arbiter uses the client library to greet
    // whatever listens on a socket (guest/inspect.ts, guest/link-errors.ts). commands, bench and demo,
    // and cli.ts, the entry point, are the top: they may import anything.
    const below: Record<string, string[]> = {
      "": ["ffi"],
      ffi: [],
      region: ["ffi"],
      protocol: [],
      guest: ["ffi", "region", "protocol"],
      host: ["ffi", "region", "protocol", "guest"],
      transfer: ["ffi", "region", "protocol", "guest"],
    };
    const partOf = (file: string) => (file.includes("/") ? file.slice(0, file.indexOf("/")) : "");
    const upward = [...importGraph()].flatMap(([file, targets]) => {
      const part = partOf(file);
      const allowed = below[part];
      if (allowed === undefined || file === "cli.ts") return [];
      return targets
        .filter((target) => ![part, "", ...allowed].includes(partOf(target)))
        .map((target) => `${file} → ${target}`);
    });
    expect(upward).toEqual([]);
  });

  test("src/ imports nothing outside itself but package.json (not examples/, scripts/ or test/)", () => {
    const outside = sourceFiles(SRC).flatMap((file) =>
      specifiers(file)
        .filter((specifier) => specifier.startsWith("."))
        .map((specifier) => resolve(dirname(file), specifier))
        .filter((target) => !target.startsWith(`${SRC}/`) && target !== join(REPO, "package.json"))
        .map((target) => `${relative(SRC, file)} → ${relative(REPO, target)}`),
    );
    expect(outside).toEqual([]);
  });

  test("src/ removes single files with removeFile, not rmSync (which says EFAULT for unlink's EPERM)", () => {
    const single = sourceFiles(SRC).flatMap((file) =>
      unsafeRemovals(readFileSync(file, "utf8")).map((found) => `${relative(SRC, file)}: ${found}`),
    );
    expect(single).toEqual([]);
  });

  test("that check sees fs's non-recursive rm and rmSync however they are reached, and passes recursive ones", () => {
    const fooled = [
      'import { rmSync as remove } from "node:fs";\nremove(path, { force: true });',
      'import { rm } from "node:fs/promises";\nawait rm(path, { force: true });',
      'import { promises } from "node:fs";\nawait promises.rm(path);',
      'import * as fs from "node:fs";\nfs.rmSync(path, { force: true });',
      'import fs from "node:fs";\nfs.promises.rm(path);',
      'import { rmSync } from "node:fs";\nrmSync(path, { force: true }); // not { recursive: true }',
      'import { rmSync } from "node:fs";\nrmSync(a, { recursive: true }); rmSync(b, { force: true });',
      'import { rmSync } from "node:fs";\nconst remove = rmSync;',
      'import { rm } from "node:fs";\nrm(path, () => {});',
      'const { rmSync: remove } = require("node:fs");',
    ];
    expect(fooled.filter((text) => unsafeRemovals(text).length === 0)).toEqual([]);
    const recursive = [
      'import { mkdtempSync, rmSync } from "node:fs";\nrmSync(dir, { recursive: true, force: true });',
      'import { rmSync } from "node:fs";\nrmSync(\n  dir,\n  { force: true, recursive: true },\n);',
      'import { rm } from "node:fs/promises";\nawait rm(dir, { recursive: true });',
      "// rmSync(file, { force: true }) says EFAULT\n/** Not rmSync: see why */\nunlinkSync(path);",
      'const rm = "rm -f";\nrun(rm);',
    ];
    expect(recursive.flatMap(unsafeRemovals)).toEqual([]);
  });

  test("bun:ffi is imported only under src/ffi", () => {
    const outside = sourceFiles(SRC)
      .filter((file) => !relative(SRC, file).startsWith("ffi/"))
      .filter((file) => specifiers(file).includes("bun:ffi"))
      .map((file) => relative(SRC, file));
    expect(outside).toEqual([]);
  });
});

test("the README's table of which file owns each concept names only files and folders that exist", () => {
  const readme = readFileSync(join(REPO, "README.md"), "utf8");
  const table = readme.slice(readme.indexOf("| concept | owner |"));
  const rows = table
    .slice(0, table.search(/\n\n/))
    .split("\n")
    .filter((line) => line.startsWith("| "));
  const named = rows.flatMap((row) => [...row.matchAll(/`(src\/[^`*]+)`/g)].map((match) => match[1]!));
  expect(named.length).toBeGreaterThan(30);
  expect(named.filter((path) => !existsSync(join(REPO, path)))).toEqual([]);
});

/** How long a src file may grow: past it, a file holds more than one concept (the project's rule). */
const MOST_LINES = 400;

test(`every src file is at most ${MOST_LINES} lines`, () => {
  const long = sourceFiles(SRC)
    .map((file) => [relative(SRC, file), readFileSync(file, "utf8").split("\n").length - 1] as const)
    .filter(([, lines]) => lines > MOST_LINES);
  expect(Object.fromEntries(long)).toEqual({});
});
