/**
 * docs/api is generated from the library's doc comments (`npm run docs`, TypeDoc): a change to the public
 * API or its comments that was not regenerated fails here, naming the files that differ.
 */
import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { REPO } from "./helpers/paths.ts";

const out = mkdtempSync("/tmp/ivsh-api-docs-");
afterAll(() => rmSync(out, { recursive: true, force: true }));

function filesUnder(root: string, dir = root): Map<string, string> {
  const files = new Map<string, string>();
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) for (const entry of filesUnder(root, path)) files.set(...entry);
    else files.set(relative(root, path), readFileSync(path, "utf8"));
  }
  return files;
}

test("docs/api is what TypeDoc makes of the current doc comments (else run `npm run docs`)", async () => {
  const typedoc = Bun.spawn([join(REPO, "node_modules/.bin/typedoc"), "--out", out], {
    cwd: REPO,
    stdout: "pipe",
    stderr: "pipe",
  });
  const [exitCode, output] = await Promise.all([typedoc.exited, new Response(typedoc.stdout).text()]);
  expect(exitCode, output).toBe(0);
  expect(output).not.toContain("warning");
  const committed = filesUnder(join(REPO, "docs/api"));
  const fresh = filesUnder(out);
  const differing = [...new Set([...committed.keys(), ...fresh.keys()])].filter(
    (file) => committed.get(file) !== fresh.get(file),
  );
  expect(differing).toEqual([]);
}, 60_000);

// Found by a trial: the reference said nothing of a holder's death but for close(); README alone did.
test("the Mutex and CondVar reference says what a holder's death does, when waiters learn, and what to repair", () => {
  const page = (name: string) => readFileSync(join(REPO, `docs/api/ivsh/classes/${name}.md`), "utf8");
  const mutex = page("Mutex");
  for (const said of ["kill -9", "lease runs out", '"owner-died"', "half-updated", "keeps its handle open"])
    expect(mutex).toContain(said);
  expect(page("CondVar")).toContain("that holder will never notify");
});

// Found by a trial: the reference did not say that a write to a "read" segment kills the process.
test("the Segment reference says what a write to a read grant and a view kept after free() do", () => {
  const segment = readFileSync(join(REPO, "docs/api/ivsh/classes/Segment.md"), "utf8");
  for (const said of ['Held "read"', "read-only", "SIGSEGV", "a view kept from before faults"])
    expect(segment).toContain(said);
});

// Found by a trial: notify() said "wakes one waiter"; waiters still spinning all see it (Mesa allows it).
test("the CondVar reference says notify() may wake more than one waiter and is not kept for a later one", () => {
  const condvar = readFileSync(join(REPO, "docs/api/ivsh/classes/CondVar.md"), "utf8");
  expect(condvar).toContain("more than one may wake");
  expect(condvar).toContain("With no waiter it is not kept");
});

// The shm_* reference kept what CondVar's had said: notify "wakes one waiter", and wait "sleeps until
// notified", silent on the "owner-died" that ends a wait (the report's loops, ported, ignored it and
// waited for ever on a peer that had died holding the lock).
test("the shm_* reference says what shm_wait_cv's owner-died means and that shm_notify_cv may wake more than one", () => {
  const page = (name: string) => readFileSync(join(REPO, `docs/api/ivsh/shm/functions/${name}.md`), "utf8");
  expect(page("shm_wait_cv")).toContain('"owner-died" if a holder died with the lock meanwhile');
  expect(page("shm_notify_cv")).toContain("more than one may wake");
  expect(page("shm_notify_cv")).toContain("With no waiter it is not kept");
});
